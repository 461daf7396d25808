// check.h: a tiny test harness for the native unit tests (no downloads).
//
//   TEST(name) { CHECK(cond); CHECK_EQ(a, b); }
//   int main() { return hr_test::run_all(); }
//
// Each test prints "PASS name" or "FAIL name" (after the failed checks, with
// file:line); run_all prints a final "N passed, N failed" line and returns 0
// only if every test passed. A failing CHECK does not stop its test. Checks
// are thread-safe (counted atomically), so worker threads may CHECK too.

#ifndef HR_TEST_CHECK_H_
#define HR_TEST_CHECK_H_

#include <atomic>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace hr_test {

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline std::atomic<int>& current_failures() {
  static std::atomic<int> failures{0};
  return failures;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

inline void report_failure(const char* file, int line, const std::string& what) {
  current_failures().fetch_add(1);
  std::fprintf(stderr, "  %s:%d: CHECK failed: %s\n", file, line, what.c_str());
}

template <class A, class B>
void check_eq(const A& a, const B& b, const char* as, const char* bs,
              const char* file, int line) {
  if (a == b) return;
  std::ostringstream os;
  os << as << " == " << bs << " (" << a << " vs " << b << ")";
  report_failure(file, line, os.str());
}

// Runs every registered test (or only those whose name contains argv[1]).
inline int run_all(int argc = 0, char** argv = nullptr) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0;
  int failed = 0;
  for (const TestCase& t : registry()) {
    if (filter != nullptr && std::strstr(t.name, filter) == nullptr) continue;
    current_failures().store(0);
    t.fn();
    if (current_failures().load() == 0) {
      ++passed;
      std::printf("PASS %s\n", t.name);
    } else {
      ++failed;
      std::printf("FAIL %s\n", t.name);
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace hr_test

#define HR_TEST_CAT2(a, b) a##b
#define HR_TEST_CAT(a, b) HR_TEST_CAT2(a, b)

#define TEST(name)                                                     \
  static void HR_TEST_CAT(hr_test_fn_, name)();                        \
  static const ::hr_test::Registrar HR_TEST_CAT(hr_test_reg_, name)(   \
      #name, &HR_TEST_CAT(hr_test_fn_, name));                         \
  static void HR_TEST_CAT(hr_test_fn_, name)()

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) ::hr_test::report_failure(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_EQ(a, b) \
  ::hr_test::check_eq((a), (b), #a, #b, __FILE__, __LINE__)

#endif  // HR_TEST_CHECK_H_
