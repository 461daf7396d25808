// hr::ShardedMap: API semantics and concurrent tests (2-4 threads). The
// shard tables themselves (growth, backward shift, lifetimes, a model test):
// test_sharded_map_table.cc.

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "check.h"
#include "handle_registry_diagnostics.h"  // make_handle
#include "handle_registry_sharded_map.h"

namespace {

hr::Handle H(uint32_t i) { return hr::make_handle(1 + i / 256, i % 256, i % 7); }

// Counts live instances, to check that erase/take/clear destroy values.
struct Tracked {
  static std::atomic<int> live;
  int v = 0;
  explicit Tracked(int x) : v(x) { ++live; }
  Tracked(const Tracked& o) : v(o.v) { ++live; }
  Tracked(Tracked&& o) noexcept : v(o.v) { ++live; }
  Tracked& operator=(const Tracked& o) = default;
  Tracked& operator=(Tracked&& o) noexcept = default;
  ~Tracked() { --live; }
};
std::atomic<int> Tracked::live{0};

constexpr int kThreads = 4;

}  // namespace

TEST(insert_find_contains) {
  hr::ShardedMap<int> m;
  CHECK(m.empty());
  CHECK(m.insert(H(1), 10));
  CHECK(!m.insert(H(1), 99));  // present: value unchanged
  int seen = -1;
  CHECK(m.find(H(1), [&](int& v) { seen = v; }));
  CHECK_EQ(seen, 10);
  bool called = false;
  CHECK(!m.find(H(2), [&](int&) { called = true; }));
  CHECK(!called);
  CHECK(m.contains(H(1)));
  CHECK(!m.contains(H(2)));
  CHECK(!m.contains(0));
  CHECK_EQ(m.size(), size_t{1});
  CHECK(!m.empty());
}

TEST(find_can_modify_in_place) {
  hr::ShardedMap<std::string> m;
  m.insert(H(5), "a");
  CHECK(m.find(H(5), [](std::string& s) { s += "bc"; }));
  std::string got;
  const auto& cm = m;
  CHECK(cm.find(H(5), [&](const std::string& s) { got = s; }));
  CHECK_EQ(got, std::string("abc"));
}

TEST(insert_or_assign) {
  hr::ShardedMap<int> m;
  CHECK(m.insert_or_assign(H(3), 1));   // inserted
  CHECK(!m.insert_or_assign(H(3), 2));  // assigned
  int v = 0;
  m.find(H(3), [&](int& x) { v = x; });
  CHECK_EQ(v, 2);
  CHECK_EQ(m.size(), size_t{1});
}

TEST(take_and_erase) {
  hr::ShardedMap<int> m;
  m.insert(H(1), 11);
  m.insert(H(2), 22);
  std::optional<int> t = m.take(H(1));
  CHECK(t.has_value());
  CHECK_EQ(*t, 11);
  CHECK(!m.take(H(1)).has_value());
  CHECK(!m.contains(H(1)));
  CHECK(m.erase(H(2)));
  CHECK(!m.erase(H(2)));
  CHECK(m.empty());
  CHECK_EQ(m.size(), size_t{0});
  // Handle reusable after removal.
  CHECK(m.insert(H(1), 12));
  CHECK_EQ(m.size(), size_t{1});
}

TEST(move_only_values) {
  hr::ShardedMap<std::unique_ptr<int>> m;
  CHECK(m.insert(H(9), std::make_unique<int>(42)));
  CHECK(!m.insert(H(9), std::make_unique<int>(43)));
  int v = 0;
  CHECK(m.find(H(9), [&](std::unique_ptr<int>& p) { v = *p; }));
  CHECK_EQ(v, 42);
  std::optional<std::unique_ptr<int>> p = m.take(H(9));
  CHECK(p.has_value() && *p && **p == 42);
  CHECK(m.empty());
}

TEST(values_destroyed_exactly_once) {
  {
    hr::ShardedMap<Tracked> m;
    for (uint32_t i = 0; i < 1000; ++i) m.insert(H(i), Tracked(static_cast<int>(i)));
    CHECK_EQ(Tracked::live.load(), 1000);
    CHECK(!m.insert(H(0), Tracked(-1)));  // rejected value destroyed
    CHECK_EQ(Tracked::live.load(), 1000);
    for (uint32_t i = 0; i < 100; ++i) CHECK(m.erase(H(i)));
    CHECK_EQ(Tracked::live.load(), 900);
    {
      std::optional<Tracked> t = m.take(H(100));
      CHECK(t.has_value() && t->v == 100);
      CHECK_EQ(Tracked::live.load(), 900);  // moved out, held by t
    }
    CHECK_EQ(Tracked::live.load(), 899);
    m.clear();
    CHECK_EQ(Tracked::live.load(), 0);
    CHECK(m.empty());
    for (uint32_t i = 0; i < 10; ++i) m.insert(H(i), Tracked(1));
  }
  CHECK_EQ(Tracked::live.load(), 0);  // destructor frees the rest
}

TEST(for_each_visits_every_entry_once) {
  hr::ShardedMap<uint64_t> m(5000);
  for (uint32_t i = 0; i < 5000; ++i) m.insert(H(i), H(i) * 3);
  std::set<hr::Handle> seen;
  bool values_ok = true;
  m.for_each([&](hr::Handle h, uint64_t& v) {
    values_ok = values_ok && v == h * 3;
    seen.insert(h);
    v += 1;
  });
  CHECK(values_ok);
  CHECK_EQ(seen.size(), size_t{5000});
  const auto& cm = m;
  size_t n = 0;
  cm.for_each([&](hr::Handle h, const uint64_t& v) {
    values_ok = values_ok && v == h * 3 + 1;
    ++n;
  });
  CHECK(values_ok);
  CHECK_EQ(n, size_t{5000});
}

TEST(shard_index_and_spread) {
  using M = hr::ShardedMap<int, 16>;
  static_assert(M::kShards == 16, "kShards");
  for (uint32_t i = 0; i < 1000; ++i) {
    CHECK_EQ(M::shard_index(H(i)), static_cast<size_t>(hr::fmix64(H(i)) & 15));
  }
}

TEST(shard_count_extremes) {
  hr::ShardedMap<int, 1> one;
  hr::ShardedMap<int, 1024> many;
  for (uint32_t i = 0; i < 3000; ++i) {
    one.insert(H(i), 1);
    many.insert(H(i), 1);
  }
  CHECK_EQ(one.size(), size_t{3000});
  CHECK_EQ(many.size(), size_t{3000});
  using One = hr::ShardedMap<int, 1>;
  CHECK_EQ(One::shard_index(H(7)), size_t{0});
  many.clear();
  CHECK(many.empty());
}

namespace {
struct alignas(64) Wide {
  uint64_t v[8];
};
}  // namespace

TEST(over_aligned_values) {
  hr::ShardedMap<Wide> m;
  for (uint32_t i = 0; i < 2000; ++i) {
    Wide w{};
    w.v[0] = i;
    m.insert(H(i), w);
  }
  bool aligned = true, values = true;
  for (uint32_t i = 0; i < 2000; ++i) {
    m.find(H(i), [&](Wide& w) {
      aligned = aligned && reinterpret_cast<uintptr_t>(&w) % 64 == 0;
      values = values && w.v[0] == i;
    });
  }
  CHECK(aligned);
  CHECK(values);
  for (uint32_t i = 0; i < 2000; i += 2) CHECK(m.erase(H(i)));
  CHECK_EQ(m.size(), size_t{1000});
}

TEST(churn_reuses_memory_and_clear_resets) {
  hr::ShardedMap<std::string> m;
  for (int round = 0; round < 20; ++round) {
    for (uint32_t i = 0; i < 3000; ++i) m.insert(H(i), std::string(40, 'x'));
    CHECK_EQ(m.size(), size_t{3000});
    for (uint32_t i = 0; i < 3000; ++i) {
      if (!m.erase(H(i))) {
        hr_test::report_failure(__FILE__, __LINE__, "erase failed");
        return;
      }
    }
    CHECK(m.empty());
    if (round % 5 == 4) m.clear();  // returns the pools' chunks
  }
  m.insert(H(1), "after clear");
  std::string got;
  m.find(H(1), [&](std::string& s) { got = s; });
  CHECK_EQ(got, std::string("after clear"));
}

// ---- concurrent -----------------------------------------------------------

TEST(concurrent_disjoint_keys) {
  constexpr uint32_t kPerThread = 20000;
  hr::ShardedMap<uint64_t> m;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&m, t] {
      const uint32_t base = static_cast<uint32_t>(t) * kPerThread;
      for (uint32_t i = 0; i < kPerThread; ++i) {
        if (!m.insert(H(base + i), uint64_t{base + i})) {
          hr_test::report_failure(__FILE__, __LINE__, "insert of fresh key failed");
          return;
        }
      }
      for (uint32_t i = 0; i < kPerThread; ++i) {
        uint64_t v = ~uint64_t{0};
        if (!m.find(H(base + i), [&](uint64_t& x) { v = x; }) || v != base + i) {
          hr_test::report_failure(__FILE__, __LINE__, "find of own key failed");
          return;
        }
      }
      for (uint32_t i = 0; i < kPerThread; i += 2) {
        if (!m.erase(H(base + i))) {
          hr_test::report_failure(__FILE__, __LINE__, "erase of own key failed");
          return;
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  CHECK_EQ(m.size(), size_t{kThreads} * kPerThread / 2);
  for (uint32_t i = 0; i < kThreads * kPerThread; ++i) {
    if (m.contains(H(i)) != (i % 2 == 1)) {
      hr_test::report_failure(__FILE__, __LINE__, "wrong survivor " + std::to_string(i));
      break;
    }
  }
}

TEST(concurrent_overlapping_keys_size_balance) {
  // 4 threads hammer 2048 shared keys with a random mix; every value must
  // always equal its key, and inserts - removals must equal the final size.
  constexpr uint32_t kKeys = 2048;
  constexpr int kOps = 60000;
  hr::ShardedMap<uint64_t> m;
  std::atomic<int64_t> balance{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(1234u + static_cast<unsigned>(t));
      int64_t local = 0;
      for (int i = 0; i < kOps; ++i) {
        const uint32_t r = rng();
        const hr::Handle h = H(r % kKeys);
        switch ((r >> 16) % 8) {
          case 0: case 1:
            if (m.insert(h, h)) ++local;
            break;
          case 2:
            if (m.insert_or_assign(h, h)) ++local;
            break;
          case 3:
            if (m.erase(h)) --local;
            break;
          case 4: {
            std::optional<uint64_t> v = m.take(h);
            if (v) {
              --local;
              if (*v != h) ++bad;
            }
            break;
          }
          default:
            m.find(h, [&](uint64_t& v) { if (v != h) ++bad; });
            break;
        }
      }
      balance += local;
    });
  }
  for (auto& th : ts) th.join();
  CHECK_EQ(bad.load(), 0);
  CHECK_EQ(static_cast<int64_t>(m.size()), balance.load());
  size_t n = 0;
  m.for_each([&](hr::Handle h, uint64_t& v) { ++n; if (v != h) ++bad; });
  CHECK_EQ(n, m.size());
  CHECK_EQ(bad.load(), 0);
}

// 2 and then 4 threads run a random mix of every operation at once. Thread
// t owns the keys i with i % threads == t (so every thread touches every
// shard) and keeps a model of them; it also reads the other threads' keys,
// whose values must always name their own key. At the end the map must hold
// exactly the union of the models, value for value.
TEST(concurrent_mixed_ops_exact_final_contents) {
  constexpr uint32_t kKeys = 8000;
  constexpr int kOps = 40000;
  for (int threads : {2, 4}) {
    hr::ShardedMap<std::unique_ptr<uint64_t>> m;
    std::vector<std::unordered_map<hr::Handle, uint64_t>> models(static_cast<size_t>(threads));
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        std::mt19937_64 rng(99u + static_cast<unsigned>(t));
        auto& model = models[static_cast<size_t>(t)];
        int local_bad = 0;
        for (int i = 0; i < kOps; ++i) {
          const uint64_t r = rng();
          const uint32_t k = static_cast<uint32_t>((r >> 8) % (kKeys / threads)) *
                                 static_cast<uint32_t>(threads) + static_cast<uint32_t>(t);
          const hr::Handle h = H(k);
          const uint64_t v = h << 8 | (r >> 56);  // names its key in the high bits
          switch (r % 8) {
            case 0: case 1:
              local_bad += m.insert(h, std::make_unique<uint64_t>(v)) != model.emplace(h, v).second;
              break;
            case 2:
              local_bad += m.insert_or_assign(h, std::make_unique<uint64_t>(v)) != (model.count(h) == 0);
              model[h] = v;
              break;
            case 3:
              local_bad += m.erase(h) != (model.erase(h) == 1);
              break;
            case 4: {
              std::optional<std::unique_ptr<uint64_t>> got = m.take(h);
              auto it = model.find(h);
              local_bad += got.has_value() != (it != model.end());
              if (got && it != model.end()) {
                local_bad += **got != it->second;
                model.erase(it);
              }
              break;
            }
            case 5: {  // own key: exact value
              uint64_t got = 0;
              const bool found = m.find(h, [&](std::unique_ptr<uint64_t>& p) { got = *p; });
              auto it = model.find(h);
              local_bad += found != (it != model.end()) || (found && got != it->second);
              break;
            }
            default: {  // any thread's key: present or not, never a foreign value
              const hr::Handle any = H(static_cast<uint32_t>(r >> 40) % kKeys);
              m.find(any, [&](std::unique_ptr<uint64_t>& p) { local_bad += (*p >> 8) != any; });
              break;
            }
          }
        }
        bad += local_bad;
      });
    }
    for (auto& th : ts) th.join();
    CHECK_EQ(bad.load(), 0);
    size_t expected = 0;
    for (const auto& model : models) expected += model.size();
    CHECK_EQ(m.size(), expected);
    size_t visited = 0;
    int wrong = 0;
    m.for_each([&](hr::Handle h, std::unique_ptr<uint64_t>& p) {
      ++visited;
      const auto& model = models[static_cast<size_t>(hr::decode(h).slot - 256) % static_cast<size_t>(threads)];
      auto it = model.find(h);
      wrong += it == model.end() || it->second != *p;
    });
    CHECK_EQ(visited, expected);
    CHECK_EQ(wrong, 0);
  }
}

TEST(concurrent_find_callbacks_are_exclusive) {
  // Non-atomic increments inside find() callbacks: exact only if each shard
  // lock excludes the other threads (TSAN also flags any race).
  constexpr uint32_t kKeys = 64;
  constexpr int kRounds = 5000;
  hr::ShardedMap<uint64_t> m;
  for (uint32_t i = 0; i < kKeys; ++i) m.insert(H(i), 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        for (uint32_t i = 0; i < kKeys; ++i) m.find(H(i), [](uint64_t& v) { ++v; });
      }
    });
  }
  for (auto& th : ts) th.join();
  uint64_t total = 0;
  m.for_each([&](hr::Handle, uint64_t& v) { total += v; });
  CHECK_EQ(total, uint64_t{kThreads} * kRounds * kKeys);
}

TEST(concurrent_size_and_for_each_with_writers) {
  hr::ShardedMap<uint64_t> m;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads - 1; ++t) {
    writers.emplace_back([&, t] {
      const uint32_t base = static_cast<uint32_t>(t) * 100000;
      for (uint32_t i = 0; i < 20000; ++i) {
        m.insert(H(base + i), i);
        if (i >= 100) m.erase(H(base + i - 100));
      }
    });
  }
  std::thread reader([&] {
    while (!stop.load()) {
      // size() is not a snapshot: it may count an entry in one shard and a
      // later one in another, so only the total ever inserted bounds it.
      const size_t n = m.size();
      if (n > 60000) hr_test::report_failure(__FILE__, __LINE__, "size too big");
      size_t visited = 0;
      m.for_each([&](hr::Handle, uint64_t&) { ++visited; });
      if (visited > 60000) hr_test::report_failure(__FILE__, __LINE__, "for_each");
      (void)m.empty();
    }
  });
  for (auto& th : writers) th.join();
  stop = true;
  reader.join();
  CHECK_EQ(m.size(), size_t{(kThreads - 1) * 100});
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
