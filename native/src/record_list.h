// record_list.h: a process-wide, never-freed, lock-free list of per-thread
// records, taken by a thread for its life and handed back on exit. Used by
// the in-flight guard's markers (inflight.h) and the rings' thread tags
// (producer_rings.h). Records are never freed, so a reader walking the list
// never touches freed memory; `next` is fixed once a record is published.
#ifndef HANDLE_REGISTRY_NATIVE_RECORD_LIST_H_
#define HANDLE_REGISTRY_NATIVE_RECORD_LIST_H_

#include <atomic>
#include <new>

namespace hr_native {

/// A record of `head`'s list that no live thread holds (now taken), else a
/// new one (born taken) pushed with `push_order` on success: the two callers
/// publish with different orders, each for its own reader (see there).
/// nullptr if memory is out. R: { std::atomic<W> word; R* next;
/// std::atomic<bool> taken; }, aggregate.
template <class R>
inline R* take_record(std::atomic<R*>& head, std::memory_order push_order) noexcept {
  for (R* c = head.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    bool free = false;
    if (!c->taken.load(std::memory_order_relaxed) &&
        c->taken.compare_exchange_strong(free, true, std::memory_order_acquire)) {
      return c;
    }
  }
  R* r = new (std::nothrow) R{{0}, nullptr, {true}};
  if (r == nullptr) return nullptr;
  R* h = head.load(std::memory_order_relaxed);
  do {
    r->next = h;
  } while (!head.compare_exchange_weak(h, r, push_order, std::memory_order_relaxed));
  return r;
}

}  // namespace hr_native

#endif  // HANDLE_REGISTRY_NATIVE_RECORD_LIST_H_
