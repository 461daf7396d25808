// hr::ShardedMap's shard tables: growth, backward-shift deletion on chosen
// collisions (wrap-around included), value lifetimes (inline and boxed),
// exception safety, and a randomized comparison with std::unordered_map.
// Single-threaded; test_sharded_map.cc has the API and concurrency tests.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "check.h"
#include "handle_registry_diagnostics.h"  // make_handle
#include "handle_registry_sharded_map.h"

namespace {

hr::Handle H(uint32_t i) { return hr::make_handle(1 + i / 256, i % 256, i % 5); }

// With one shard the home slot of h in a table of `capacity` slots is
// fmix64(h) & (capacity - 1): the first `count` handles H(i) with that home.
std::vector<hr::Handle> KeysWithHome(size_t home, size_t count, size_t capacity,
                                     uint32_t start = 0) {
  std::vector<hr::Handle> out;
  for (uint32_t i = start; out.size() < count; ++i) {
    if ((hr::fmix64(H(i)) & (capacity - 1)) == home) out.push_back(H(i));
  }
  return out;
}

// Counts constructions and destructions: every V made is destroyed once.
struct Counted {
  static int made;
  static int destroyed;
  int v = 0;
  std::string tail;  // a non-trivial member (heap for long strings)
  explicit Counted(int x) : v(x), tail(x % 3 ? "" : std::string(40, 'c')) { ++made; }
  Counted(const Counted& o) : v(o.v), tail(o.tail) { ++made; }
  Counted(Counted&& o) noexcept : v(o.v), tail(std::move(o.tail)) { ++made; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { ++destroyed; }
  static int live() { return made - destroyed; }
};
int Counted::made = 0;
int Counted::destroyed = 0;

// Too big for a slot (and a move that may throw): stored boxed.
struct BigCounted {
  static int live;
  int v = 0;
  char pad[120] = {};
  explicit BigCounted(int x) : v(x) { ++live; }
  BigCounted(const BigCounted& o) : v(o.v) { ++live; }
  BigCounted(BigCounted&& o) : v(o.v) { ++live; }  // not noexcept on purpose
  BigCounted& operator=(const BigCounted&) = default;
  BigCounted& operator=(BigCounted&&) = default;
  ~BigCounted() { --live; }
};
int BigCounted::live = 0;

// A move constructor that throws while `fail` is set.
struct ThrowOnMove {
  static bool fail;
  int v = 0;
  explicit ThrowOnMove(int x) : v(x) {}
  ThrowOnMove(const ThrowOnMove& o) = default;
  ThrowOnMove(ThrowOnMove&& o) : v(o.v) {
    if (fail) throw std::runtime_error("move");
  }
  ThrowOnMove& operator=(const ThrowOnMove&) = default;
  ThrowOnMove& operator=(ThrowOnMove&&) = default;
};
bool ThrowOnMove::fail = false;

}  // namespace

TEST(storage_choice) {
  static_assert(hr::ShardedMap<uint64_t>::kValuesInline, "8-byte values inline");
  static_assert(hr::ShardedMap<uint64_t>::kSlotBytes == 16, "key + uint64_t");
  static_assert(hr::ShardedMap<std::unique_ptr<int>>::kValuesInline, "unique_ptr inline");
  static_assert(hr::ShardedMap<std::string>::kValuesInline, "std::string (32 bytes) inline");
  static_assert(!hr::ShardedMap<BigCounted>::kValuesInline, "128-byte values boxed");
  static_assert(!hr::ShardedMap<ThrowOnMove>::kValuesInline, "throwing move: boxed");
  static_assert(hr::ShardedMap<BigCounted>::kSlotBytes == 16, "key + pointer");
  CHECK(true);
}

TEST(growth_doubles_at_three_quarters_and_keeps_entries) {
  hr::ShardedMap<uint64_t, 1> m;
  const size_t slot = hr::ShardedMap<uint64_t, 1>::kSlotBytes;
  CHECK_EQ(m.table_bytes(), size_t{0});  // nothing allocated before the first insert
  size_t capacity = 16;
  bool ok = true;
  for (uint32_t i = 0; i < 5000; ++i) {
    CHECK(m.insert(H(i), uint64_t{i} * 7));
    if ((i + 1) * 4 > capacity * 3) capacity *= 2;  // the (i+1)th entry needs room
    if (m.table_bytes() != capacity * slot) {
      ok = false;
      hr_test::report_failure(__FILE__, __LINE__, "capacity " + std::to_string(m.table_bytes() / slot) +
                                                      " after " + std::to_string(i + 1) + " entries");
      break;
    }
    // After each growth every entry is still there with its value.
    if (capacity * 3 / 4 == i + 1 || (i & (i + 1)) == 0) {
      for (uint32_t k = 0; k <= i; ++k) {
        uint64_t v = 0;
        ok = ok && m.find(H(k), [&](uint64_t& x) { v = x; }) && v == uint64_t{k} * 7;
      }
    }
  }
  CHECK(ok);
  CHECK_EQ(m.size(), size_t{5000});
  // Erasing never shrinks; clear() frees.
  const size_t full = m.table_bytes();
  for (uint32_t i = 0; i < 5000; ++i) m.erase(H(i));
  CHECK_EQ(m.table_bytes(), full);
  m.clear();
  CHECK_EQ(m.table_bytes(), size_t{0});
}

TEST(reserve_avoids_growth) {
  hr::ShardedMap<uint64_t, 1> m(100);  // 100 <= 3/4 of 256 (3/4 of 128 is 96)
  const size_t slot = hr::ShardedMap<uint64_t, 1>::kSlotBytes;
  CHECK_EQ(m.table_bytes(), 256 * slot);
  for (uint32_t i = 0; i < 192; ++i) m.insert(H(i), i);
  CHECK_EQ(m.table_bytes(), 256 * slot);
  m.insert(H(192), 0);
  CHECK_EQ(m.table_bytes(), 512 * slot);
  m.reserve(10);  // never shrinks
  CHECK_EQ(m.table_bytes(), 512 * slot);
  hr::ShardedMap<uint64_t, 16> sharded(16 * 96);  // 96 per shard: 128 slots each
  CHECK_EQ(sharded.table_bytes(), 16 * 128 * slot);
}

// Keys placed on chosen home slots of a 16-slot table (the first table,
// which holds up to 12 entries), erased in many orders: after every erase
// each remaining key is found with its value and each erased one is not.
// Homes 13..15 and 0..1 make runs that wrap around the end of the array.
TEST(backward_shift_deletion_keeps_every_run_reachable) {
  const std::vector<std::vector<size_t>> layouts = {
      {14, 14, 15, 14, 0, 1, 15, 0},          // runs across the wrap
      {3, 3, 3, 3, 4, 4, 5, 7},               // one long run with later homes
      {15, 15, 15, 15, 15, 15, 15, 15, 15},  // every key on the last slot
      {0, 2, 2, 1, 0, 5, 4, 4, 3, 12, 11, 12},  // 12 entries: the table is 3/4 full
  };
  std::mt19937 rng(77);
  int failures = 0;
  for (const auto& homes : layouts) {
    std::vector<hr::Handle> keys;
    std::vector<uint32_t> start(16, 0);
    for (size_t home : homes) {
      hr::Handle k = KeysWithHome(home, 1, 16, start[home])[0];
      keys.push_back(k);
      while (H(start[home]) != k) ++start[home];
      ++start[home];
    }
    for (int round = 0; round < 150 && failures == 0; ++round) {
      std::vector<size_t> order(keys.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::vector<size_t> ins = order;
      std::shuffle(ins.begin(), ins.end(), rng);
      std::shuffle(order.begin(), order.end(), rng);
      hr::ShardedMap<uint64_t, 1> m;
      for (size_t i : ins) m.insert(keys[i], keys[i] ^ 0xabc);
      if (m.table_bytes() != 16 * hr::ShardedMap<uint64_t, 1>::kSlotBytes) ++failures;
      std::vector<bool> gone(keys.size(), false);
      for (size_t step = 0; step < order.size(); ++step) {
        if (!m.erase(keys[order[step]])) ++failures;
        gone[order[step]] = true;
        for (size_t k = 0; k < keys.size(); ++k) {
          uint64_t v = 0;
          const bool found = m.find(keys[k], [&](uint64_t& x) { v = x; });
          if (found == gone[k] || (found && v != (keys[k] ^ 0xabc))) ++failures;
        }
        if (m.size() != keys.size() - step - 1) ++failures;
      }
    }
  }
  CHECK_EQ(failures, 0);
}

TEST(keys_zero_and_all_ones) {
  // ~0 marks empty slots inside a table; its entry lives beside the table.
  hr::ShardedMap<int, 4> m;
  const hr::Handle all_ones = ~hr::Handle{0};
  CHECK(!m.contains(all_ones));
  CHECK(m.insert(all_ones, 1));
  CHECK(!m.insert(all_ones, 2));
  CHECK(m.insert(0, 3));
  CHECK(m.contains(all_ones) && m.contains(0));
  CHECK_EQ(m.size(), size_t{2});
  CHECK(!m.insert_or_assign(all_ones, 4));
  int sum = 0, seen = 0;
  m.for_each([&](hr::Handle h, int& v) { sum += v; seen += h == all_ones; });
  CHECK_EQ(sum, 7);
  CHECK_EQ(seen, 1);
  std::optional<int> t = m.take(all_ones);
  CHECK(t && *t == 4);
  CHECK(!m.erase(all_ones));
  CHECK(m.erase(0));
  CHECK(m.empty());
  m.insert(all_ones, 5);
  m.clear();
  CHECK(!m.contains(all_ones));
}

TEST(inline_values_constructed_and_destroyed_in_pairs) {
  Counted::made = Counted::destroyed = 0;
  {
    hr::ShardedMap<Counted, 2> m;
    for (uint32_t i = 0; i < 3000; ++i) m.insert(H(i), Counted(static_cast<int>(i)));  // growths
    CHECK_EQ(Counted::live(), 3000);
    for (uint32_t i = 0; i < 3000; i += 3) m.erase(H(i));  // backward shifts
    CHECK_EQ(Counted::live(), 2000);
    for (uint32_t i = 1; i < 3000; i += 3) {
      std::optional<Counted> t = m.take(H(i));
      if (!t || t->v != static_cast<int>(i)) hr_test::report_failure(__FILE__, __LINE__, "take");
    }
    CHECK_EQ(Counted::live(), 1000);
    CHECK(!m.insert(H(2), Counted(-1)));  // present: the argument is destroyed
    CHECK(!m.insert_or_assign(H(2), Counted(-2)));
    CHECK_EQ(Counted::live(), 1000);
    bool values = true;
    m.for_each([&](hr::Handle h, Counted& c) {
      values = values && (h == H(2) ? c.v == -2 : H(static_cast<uint32_t>(c.v)) == h);
    });
    CHECK(values);
  }
  CHECK_EQ(Counted::live(), 0);  // the destructor destroyed the last 1000
  CHECK(Counted::made > 3000);   // moves count too
}

TEST(boxed_values_lifetimes) {
  BigCounted::live = 0;
  {
    hr::ShardedMap<BigCounted, 4> m;
    for (uint32_t i = 0; i < 2000; ++i) m.insert(H(i), BigCounted(static_cast<int>(i)));
    CHECK_EQ(BigCounted::live, 2000);
    // A boxed value keeps its address across growth and backward shifts.
    const BigCounted* before = nullptr;
    m.find(H(1999), [&](BigCounted& b) { before = &b; });
    for (uint32_t i = 2000; i < 6000; ++i) m.insert(H(i), BigCounted(static_cast<int>(i)));
    for (uint32_t i = 0; i < 1999; ++i) m.erase(H(i));
    const BigCounted* after = nullptr;
    m.find(H(1999), [&](BigCounted& b) { after = &b; });
    CHECK(before != nullptr && before == after);
    CHECK_EQ(BigCounted::live, 4001);
    std::optional<BigCounted> t = m.take(H(1999));
    CHECK(t && t->v == 1999);
    CHECK_EQ(BigCounted::live, 4001);  // 4000 in the map, one in t
    m.clear();
    CHECK_EQ(BigCounted::live, 1);
    for (uint32_t i = 0; i < 10; ++i) m.insert(H(i), BigCounted(1));
  }
  CHECK_EQ(BigCounted::live, 0);
}

TEST(throwing_move_leaves_the_map_unchanged) {
  hr::ShardedMap<ThrowOnMove, 2> m;
  for (uint32_t i = 0; i < 100; ++i) m.insert(H(i), ThrowOnMove(static_cast<int>(i)));
  ThrowOnMove::fail = true;
  bool threw = false;
  try {
    m.insert(H(500), ThrowOnMove(500));  // throws while boxing the argument
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    (void)m.take(H(7));  // throws while moving the value out
  } catch (const std::runtime_error&) {
    threw = true;
  }
  ThrowOnMove::fail = false;
  CHECK(threw);
  CHECK(!m.contains(H(500)));
  CHECK(m.contains(H(7)));
  CHECK_EQ(m.size(), size_t{100});
  int v = -1;
  CHECK(m.find(H(7), [&](ThrowOnMove& x) { v = x.v; }));
  CHECK_EQ(v, 7);
}

// The model test: long random sequences of every operation on a few key
// ranges (dense handles, one home slot's collisions, 0 and ~0), compared
// with std::unordered_map after each operation and in full every 1000.
// Values for the model test: inline (a unique_ptr) and boxed (120 bytes).
struct Wide120 {
  uint64_t v;
  char pad[112];
};
static_assert(!hr::ShardedMap<Wide120>::kValuesInline, "Wide120 is boxed");
uint64_t Get(const std::unique_ptr<uint64_t>& p) { return *p; }
uint64_t Get(const Wide120& w) { return w.v; }
template <class V>
V Make(uint64_t v) {
  if constexpr (std::is_same<V, Wide120>::value) {
    return Wide120{v, {}};
  } else {
    return std::make_unique<uint64_t>(v);
  }
}

template <size_t Shards, class V = std::unique_ptr<uint64_t>>
int RunModel(uint32_t seed, int ops) {
  std::mt19937_64 rng(seed);
  std::vector<hr::Handle> keys;
  for (uint32_t i = 0; i < 3000; ++i) keys.push_back(H(i));
  for (hr::Handle k : KeysWithHome(5, 40, 64, 10000)) keys.push_back(k);
  keys.push_back(0);
  keys.push_back(~hr::Handle{0});
  hr::ShardedMap<V, Shards> m;
  std::unordered_map<hr::Handle, uint64_t> model;
  int bad = 0;
  for (int op = 0; op < ops && bad == 0; ++op) {
    const uint64_t r = rng();
    // Vary the live count: mostly small key windows, sometimes all keys.
    const size_t window = (op / 20000) % 2 ? keys.size() : 200 + (op / 5000) % 4 * 300;
    const hr::Handle h = keys[(r >> 8) % std::min(window, keys.size())];
    const uint64_t v = r >> 20;
    switch (r % 16) {
      case 0: case 1: case 2: case 3: {
        const bool inserted = m.insert(h, Make<V>(v));
        bad += inserted != model.emplace(h, v).second;
        break;
      }
      case 4: {
        const bool inserted = m.insert_or_assign(h, Make<V>(v));
        bad += inserted != (model.count(h) == 0);
        model[h] = v;
        break;
      }
      case 5: case 6: case 7:
        bad += m.erase(h) != (model.erase(h) == 1);
        break;
      case 8: {
        std::optional<V> t = m.take(h);
        auto it = model.find(h);
        bad += t.has_value() != (it != model.end());
        if (t && it != model.end()) {
          bad += Get(*t) != it->second;
          model.erase(it);
        }
        break;
      }
      case 9:
        bad += m.contains(h) != (model.count(h) == 1);
        break;
      case 10:
        if (op % 50000 == 10) {  // rarely: clear or reserve
          m.clear();
          model.clear();
        } else if (op % 7000 == 10) {
          m.reserve(model.size() * 2 + 100);
        }
        break;
      default: {
        uint64_t got = ~uint64_t{0};
        const bool found = m.find(h, [&](V& x) { got = Get(x); });
        auto it = model.find(h);
        bad += found != (it != model.end());
        if (found && it != model.end()) bad += got != it->second;
        break;
      }
    }
    if (op % 1000 == 999) {
      bad += m.size() != model.size();
      size_t visited = 0;
      m.for_each([&](hr::Handle k, V& x) {
        ++visited;
        auto it = model.find(k);
        bad += it == model.end() || it->second != Get(x);
      });
      bad += visited != model.size();
    }
  }
  if (bad != 0) std::fprintf(stderr, "  model mismatch, shards %zu, seed %u\n", Shards, seed);
  return bad;
}

TEST(randomized_against_unordered_map) {
  int bad = 0;
  for (uint32_t seed = 1; seed <= 4 && bad == 0; ++seed) {
    bad += RunModel<1>(seed, 120000);
    bad += RunModel<4>(seed + 100, 60000);
    bad += RunModel<16>(seed + 200, 60000);
    bad += RunModel<2, Wide120>(seed + 300, 60000);  // boxed values
  }
  CHECK_EQ(bad, 0);
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
