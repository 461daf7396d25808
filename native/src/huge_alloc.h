// huge_alloc.h: zeroed memory for the owners' state words (owners.cc,
// alloc_state), backed by transparent huge pages where the kernel allows.
//
// Why: filling a registry from empty faults in every page of its state words
// once, and on the VM this was measured on the first touch of a fresh 4 KiB
// page costs 12-13 us, against 0.4-19 us per 4 KiB (run to run) when the
// region is 2 MiB-aligned and madvise(MADV_HUGEPAGE)'d first: one fault per
// 2 MiB (docs/design.md, "Native state memory"). Below 2 MiB a huge page
// clears more than the region needs and measured slower than small pages in
// some runs: hence the threshold. With THP "madvise" (the default of most distributions) only
// madvised regions get huge pages. A kernel without THP answers EINVAL and
// the region keeps small pages: still correct, just not faster.
//
// Layout: `head` bytes of header, then a body of `body` bytes whose first
// byte is 2 MiB-aligned on the huge path, so a body of a multiple of 2 MiB
// fills whole huge pages (the header sits at the end of the small page in
// front). Below kHugeMinBody, and off Linux, it is plain calloc/free. Which
// path a block took is a pure function of `body`, so free_zeroed() needs no
// record of it: pass the same head and body as to alloc_zeroed().
//
// Both paths return zeroed memory: calloc's guarantee, and a fresh private
// anonymous mapping is zero-filled by the kernel. Note for the sanitizer
// builds: ASan does not track mmap'd memory (no redzones, no
// use-after-free poisoning); an overrun of the body runs into the rounding
// slack or the next mapping, never reported. Nothing relies on ASan catching
// overflows of the state words: every index is checked against the region's
// `slots` before it is read (owners.cc, post.cc, resolve.cc).
#ifndef HR_NATIVE_HUGE_ALLOC_H_
#define HR_NATIVE_HUGE_ALLOC_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace hr_native {
namespace huge {

// The huge-page size this aims at (x86-64 and arm64 with 4 KiB pages).
constexpr size_t kHugePage = size_t{2} << 20;
// Bodies from this size on take the huge path. Below it a huge page would
// make up to 2 MiB resident for a smaller region (a registry's first regions
// are 16 KiB-1 MiB), and small regions fault in few pages anyway.
constexpr size_t kHugeMinBody = kHugePage;

constexpr size_t round_up(size_t n, size_t to) noexcept { return (n + to - 1) / to * to; }

// Whether a body of this size takes the huge path on this platform.
constexpr bool uses_huge(size_t body) noexcept {
#ifdef __linux__
  return body >= kHugeMinBody;
#else
  (void)body;
  return false;
#endif
}

#ifdef __linux__
inline size_t small_page() noexcept {
  static const size_t page = [] {
    const long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<size_t>(p) : size_t{4096};
  }();
  return page;
}

// What the huge path maps: whole small pages for the header, whole huge pages for the body.
inline size_t head_span(size_t head) noexcept { return round_up(head, small_page()); }
inline size_t mapped_bytes(size_t head, size_t body) noexcept {
  return head_span(head) + round_up(body, kHugePage);
}
#endif

// Zeroed memory of head + body bytes (null when out of memory). On the huge
// path, p + head is 2 MiB-aligned and the body is madvise(MADV_HUGEPAGE)'d.
inline void* alloc_zeroed(size_t head, size_t body) noexcept {
#ifdef __linux__
  if (uses_huge(body)) {
    const size_t span = head_span(head);
    const size_t want = mapped_bytes(head, body);
    if (want < body) return nullptr;  // overflow
    // Over-map by a huge page, then trim both ends to the aligned part.
    const size_t reserve = want + kHugePage;
    void* raw = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const uintptr_t lo = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t body_at = round_up(lo + span, kHugePage);
    const uintptr_t start = body_at - span;
    if (start > lo) munmap(raw, start - lo);
    const uintptr_t end = start + want;
    if (lo + reserve > end) munmap(reinterpret_cast<void*>(end), lo + reserve - end);
    // EINVAL (no THP in this kernel) or anything else: small pages, still zeroed.
    (void)madvise(reinterpret_cast<void*>(body_at), want - span, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(body_at - head);
  }
#endif
  return std::calloc(1, head + body);
}

// Frees what alloc_zeroed(head, body) returned (null is a no-op).
inline void free_zeroed(void* p, size_t head, size_t body) noexcept {
  if (p == nullptr) return;
#ifdef __linux__
  if (uses_huge(body)) {
    const uintptr_t body_at = reinterpret_cast<uintptr_t>(p) + head;
    munmap(reinterpret_cast<void*>(body_at - head_span(head)), mapped_bytes(head, body));
    return;
  }
#endif
  std::free(p);
}

}  // namespace huge
}  // namespace hr_native

#endif  // HR_NATIVE_HUGE_ALLOC_H_
