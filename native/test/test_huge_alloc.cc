// The state-word allocator (native/src/huge_alloc.h): zeroed, usable over its
// whole size, the body 2 MiB-aligned and madvise(MADV_HUGEPAGE)'d from the
// threshold on (the `hg` flag in /proc/self/smaps), calloc below it, and
// unmapped by free_zeroed.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "check.h"
#include "huge_alloc.h"

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace {

namespace huge = hr_native::huge;

constexpr size_t kHead = 16;  // sizeof(StateRegion) in the addon

struct Vma {
  bool found = false;
  uintptr_t start = 0;
  uintptr_t end = 0;
  bool hg = false;
};

// The mapping of /proc/self/smaps that contains address a.
Vma vma_of(const void* a) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(a);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  Vma cur;
  bool in = false;
  while (std::getline(smaps, line)) {
    unsigned long long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx ", &lo, &hi) == 2 && line.find('-') < line.find(' ')) {
      in = at >= lo && at < hi;
      if (in) {
        cur.found = true;
        cur.start = static_cast<uintptr_t>(lo);
        cur.end = static_cast<uintptr_t>(hi);
      }
    } else if (in && line.rfind("VmFlags:", 0) == 0) {
      std::istringstream flags(line.substr(8));
      std::string f;
      while (flags >> f) cur.hg = cur.hg || f == "hg";
      return cur;
    }
  }
  return cur;
}

bool thp_configured() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  return f.good();
}

bool all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

TEST(threshold_is_2_mib_on_linux) {
#ifdef __linux__
  CHECK(!huge::uses_huge(huge::kHugePage - 1));
  CHECK(huge::uses_huge(huge::kHugePage));
  CHECK(huge::uses_huge(64 * huge::kHugePage));
#else
  CHECK(!huge::uses_huge(64 * huge::kHugePage));
#endif
}

TEST(small_bodies_are_zeroed_and_usable) {
  for (size_t body : {size_t{0}, size_t{4}, size_t{16384}, huge::kHugePage - 4}) {
    auto* p = static_cast<unsigned char*>(huge::alloc_zeroed(kHead, body));
    CHECK(p != nullptr);
    if (p == nullptr) continue;
    CHECK(all_zero(p, kHead + body));
    std::memset(p, 0xa5, kHead + body);  // ASan: the whole block is ours
    CHECK_EQ(p[kHead + body - 1], 0xa5);
    huge::free_zeroed(p, kHead, body);
  }
  huge::free_zeroed(nullptr, kHead, huge::kHugePage);  // a no-op, as free(nullptr)
}

TEST(large_bodies_are_zeroed_aligned_and_usable) {
  // 2 MiB, 4 MiB (doubling growth) and an odd size that rounds up.
  for (size_t body : {huge::kHugePage, 2 * huge::kHugePage, 3 * huge::kHugePage + 12345}) {
    auto* p = static_cast<unsigned char*>(huge::alloc_zeroed(kHead, body));
    CHECK(p != nullptr);
    if (p == nullptr) continue;
#ifdef __linux__
    CHECK_EQ(reinterpret_cast<uintptr_t>(p + kHead) % huge::kHugePage, uintptr_t{0});
#endif
    CHECK(all_zero(p, kHead + body));
    // Every byte writable and kept (one write per 4 KiB page and both ends).
    for (size_t i = 0; i < kHead + body; i += 4096) p[i] = static_cast<unsigned char>(i >> 12);
    p[kHead + body - 1] = 0x5a;
    bool kept = p[kHead + body - 1] == 0x5a;
    for (size_t i = 0; i < kHead + body; i += 4096) kept = kept && p[i] == static_cast<unsigned char>(i >> 12);
    CHECK(kept);
    huge::free_zeroed(p, kHead, body);
  }
}

TEST(a_fresh_block_after_a_freed_one_is_zero_again) {
  // The same size freed then allocated: the kernel hands zeroed pages again
  // (calloc's guarantee, which alloc_state's copy of the old words relies on).
  const size_t body = 2 * huge::kHugePage;
  for (int round = 0; round < 3; ++round) {
    auto* p = static_cast<unsigned char*>(huge::alloc_zeroed(kHead, body));
    CHECK(p != nullptr);
    if (p == nullptr) return;
    CHECK(all_zero(p, kHead + body));
    std::memset(p, 0xff, kHead + body);
    huge::free_zeroed(p, kHead, body);
  }
}

#ifdef __linux__
TEST(large_bodies_carry_the_hg_flag_and_are_unmapped_by_free) {
  const size_t body = 2 * huge::kHugePage;
  auto* p = static_cast<unsigned char*>(huge::alloc_zeroed(kHead, body));
  CHECK(p != nullptr);
  if (p == nullptr) return;
  const Vma words = vma_of(p + kHead);
  CHECK(words.found);
  // The whole body is one mapping (2 MiB-aligned, whole huge pages).
  CHECK(words.start <= reinterpret_cast<uintptr_t>(p + kHead));
  CHECK(words.end >= reinterpret_cast<uintptr_t>(p + kHead + body));
  if (thp_configured()) {
    CHECK(words.hg);  // madvise sets it whether or not huge pages are then found
  } else {
    std::printf("  (no /sys/kernel/mm/transparent_hugepage/enabled: hg flag not checked)\n");
  }
  // The header lives in the small page in front, without hg: regions never merge.
  const Vma header = vma_of(p);
  CHECK(header.found);
  CHECK(!header.hg);
  huge::free_zeroed(p, kHead, body);
  // Unmapped, header page and body (mincore answers ENOMEM for an unmapped range;
  // asked at once, before anything else can map there).
  unsigned char in_core[1];
  const uintptr_t page = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  CHECK_EQ(mincore(reinterpret_cast<void*>(page), 4096, in_core), -1);
  CHECK_EQ(mincore(p + kHead, 4096, in_core), -1);
  CHECK_EQ(mincore(p + kHead + body - 4096, 4096, in_core), -1);
}

TEST(small_bodies_do_not_carry_the_hg_flag) {
  auto* p = static_cast<unsigned char*>(huge::alloc_zeroed(kHead, 65536));
  CHECK(p != nullptr);
  if (p == nullptr) return;
  CHECK(!vma_of(p + kHead).hg);
  huge::free_zeroed(p, kHead, 65536);
}
#endif

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
