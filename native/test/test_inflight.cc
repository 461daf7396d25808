// hr_native::inflight (native/src/inflight.h): the guard that replaced the
// shared inflight counters of the close protocol. Real threads; ASan catches
// a closer that frees what a guard still reads, TSan a missing
// happens-before. run.sh runs this binary twice: as is (membarrier markers
// where the kernel has them) and with HANDLE_REGISTRY_NO_MEMBARRIER=1 (the
// counters only).

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "check.h"
#include "inflight.h"

namespace inf = hr_native::inflight;

namespace {

bool asymmetric() { return inf::mode() == inf::kAsymmetric; }

uint64_t my_word() { return inf::t_marker == nullptr ? 0 : inf::t_marker->word.load(); }

struct Object {
  static constexpr uint64_t kMagic = 0x1234567890abcdefull;
  uint64_t magic = kMagic;
  uint64_t id = 0;
};

}  // namespace

TEST(mode_reported) {
  std::printf("  inflight mode: %s\n", asymmetric() ? "membarrier markers" : "counters only");
  CHECK(inf::mode() == inf::kAsymmetric || inf::mode() == inf::kCountersOnly);
}

TEST(guard_marks_the_thread_then_clears) {
  inf::Counters c{};
  {
    inf::Guard g(c, 7);
    if (asymmetric()) {
      CHECK_EQ(my_word() & inf::kTagMask, uint64_t{7});
      CHECK_EQ(c.inflight[0].load() + c.inflight[1].load(), 0);
    } else {
      CHECK_EQ(c.inflight[0].load() + c.inflight[1].load(), 1);
    }
  }
  CHECK_EQ(c.inflight[0].load() + c.inflight[1].load(), 0);
  if (asymmetric()) CHECK_EQ(my_word() & inf::kTagMask, uint64_t{0});
}

TEST(nested_guard_uses_the_counters) {
  inf::Counters a{}, b{};
  {
    inf::Guard outer(a, 3);
    {
      inf::Guard inner(b, 4);
      CHECK_EQ(b.inflight[0].load() + b.inflight[1].load(), 1);
      if (asymmetric()) CHECK_EQ(my_word() & inf::kTagMask, uint64_t{3});
    }
    CHECK_EQ(b.inflight[0].load() + b.inflight[1].load(), 0);
  }
  if (asymmetric()) CHECK_EQ(my_word() & inf::kTagMask, uint64_t{0});
}

TEST(every_entry_is_a_new_word) {
  inf::Counters c{};
  uint64_t w1 = 0, w2 = 0;
  {
    inf::Guard g(c, 9);
    w1 = my_word();
  }
  {
    inf::Guard g(c, 9);
    w2 = my_word();
  }
  if (asymmetric()) CHECK(w1 != w2);
}

// synchronize() returns only after a guard that was inside has left.
TEST(synchronize_waits_for_a_guard_inside) {
  inf::Counters c{};
  std::atomic<bool> inside{false}, closer_started{false}, left{false};
  std::thread producer([&] {
    inf::Guard g(c, 11);
    inside.store(true);
    while (!closer_started.load()) std::this_thread::yield();
    for (int i = 0; i < 2000; ++i) std::this_thread::yield();  // give the closer time to (wrongly) return
    left.store(true);
  });
  while (!inside.load()) std::this_thread::yield();
  std::thread closer([&] {
    closer_started.store(true);
    inf::synchronize(c, 11);
    CHECK(left.load());
  });
  closer.join();
  producer.join();
}

// try_enter / leave (post()'s fast path, without a Guard object): waited for
// as a Guard is; refused (the caller takes a Guard) on a thread without a
// marker, inside a guard, or with the counters only.
TEST(try_enter_is_waited_for_and_refuses_nesting) {
  inf::Counters c{};
  std::atomic<bool> inside{false}, closer_started{false}, left{false}, entered{false};
  std::thread producer([&] {
    uint64_t out = 0;
    CHECK(inf::try_enter(14, &out) == nullptr);  // no marker yet: nothing done
    { inf::Guard first(c, 14); }                 // takes the thread's marker (or the counters)
    inf::Marker* m = inf::try_enter(14, &out);
    if (!asymmetric()) {
      CHECK(m == nullptr);
      return;
    }
    CHECK(m != nullptr);
    entered.store(true);
    uint64_t nested_out = 0;
    CHECK(inf::try_enter(15, &nested_out) == nullptr);  // nested: refused, the mark kept
    CHECK_EQ(my_word() & inf::kTagMask, uint64_t{14});
    inside.store(true);
    while (!closer_started.load()) std::this_thread::yield();
    for (int i = 0; i < 2000; ++i) std::this_thread::yield();  // give the closer time to (wrongly) return
    left.store(true);
    inf::leave(m, out);
    CHECK_EQ(my_word() & inf::kTagMask, uint64_t{0});
  });
  while (asymmetric() && !inside.load()) std::this_thread::yield();
  std::thread closer([&] {
    closer_started.store(true);
    inf::synchronize(c, 14);
    if (entered.load()) CHECK(left.load());
  });
  closer.join();
  producer.join();
}

// A guard of another tag is not waited for.
TEST(synchronize_ignores_other_tags) {
  inf::Counters mine{}, other{};
  std::atomic<bool> inside{false}, release{false};
  std::thread producer([&] {
    inf::Guard g(other, 12);
    inside.store(true);
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  inf::synchronize(mine, 13);  // would hang here if it waited for tag 12
  release.store(true);
  producer.join();
  CHECK(true);
}

// Three producers read a published object under guards at full speed while a
// closer replaces it, synchronizes and frees the old one (ASan: no use after
// free), then unpublishes it for good: no guard entered after that sees one.
TEST(stress_publish_synchronize_free) {
  inf::Counters c{};
  constexpr uint32_t kTag = 21;
  constexpr int kProducers = 3;
  constexpr int kSwaps = 300;
  std::atomic<Object*> published{new Object{}};
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> reads{0}, bad{0}, after_close{0};
  std::atomic<int> running{0};
  std::atomic<int> have_read{0};  // producers that read the object at least once
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&] {
      running.fetch_add(1);
      uint64_t n = 0;
      for (;;) {
        const bool was_closed = closed.load(std::memory_order_seq_cst);
        {
          inf::Guard g(c, kTag);
          Object* o = published.load(std::memory_order_seq_cst);
          if (o != nullptr) {
            // Hold it a while: a closer that did not wait frees it meanwhile.
            for (int k = 0; k < 64; ++k) hr::detail::cpu_relax();
            if (o->magic != Object::kMagic) bad.fetch_add(1);
            if (++n == 1) have_read.fetch_add(1);
            if (was_closed) after_close.fetch_add(1);
          }
        }
        if (was_closed) break;
      }
      reads.fetch_add(n);
    });
  }
  // Every producer is reading before the swaps start (on a loaded machine a
  // producer may otherwise get no time slice until they are over).
  while (running.load() < kProducers || have_read.load() < kProducers) std::this_thread::yield();
  for (int i = 1; i <= kSwaps; ++i) {
    Object* fresh = new Object{};
    fresh->id = static_cast<uint64_t>(i);
    Object* old = published.exchange(fresh, std::memory_order_seq_cst);
    inf::synchronize(c, kTag);
    old->magic = 0;  // a guard still reading it would see this (and ASan the delete)
    delete old;
  }
  Object* last = published.exchange(nullptr, std::memory_order_seq_cst);
  inf::synchronize(c, kTag);
  delete last;
  closed.store(true, std::memory_order_seq_cst);
  for (auto& t : producers) t.join();
  CHECK_EQ(bad.load(), uint64_t{0});
  CHECK_EQ(after_close.load(), uint64_t{0});
  CHECK(reads.load() > 0);
  CHECK_EQ(c.inflight[0].load() + c.inflight[1].load(), 0);
  for (inf::Marker* m = inf::g_markers.load(); m != nullptr; m = m->next) {
    CHECK_EQ(m->word.load() & inf::kTagMask, uint64_t{0});
  }
}

// A thread's exit hands its marker to the next thread: sequential threads
// reuse one marker, concurrent threads get one each.
TEST(thread_exit_hands_the_marker_on) {
  inf::Counters c{};
  const auto use = [&c] { inf::Guard g(c, 5); };
  std::thread(use).join();
  const size_t before = inf::marker_count();
  for (int i = 0; i < 20; ++i) std::thread(use).join();
  CHECK_EQ(inf::marker_count(), before);
  if (asymmetric()) CHECK(before >= 1);
  std::atomic<int> inside{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      inf::Guard g(c, 5);
      inside.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
    });
  }
  while (inside.load() < 4) std::this_thread::yield();
  if (asymmetric()) CHECK(inf::marker_count() >= 4);
  go.store(true);
  for (auto& t : ts) t.join();
  const size_t after = inf::marker_count();
  for (int i = 0; i < 20; ++i) std::thread(use).join();
  CHECK_EQ(inf::marker_count(), after);
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
