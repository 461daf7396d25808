// fake_clib.h: stands in for a third-party C library with a callback API.
//
// Like many real ones (libuv-style watchers, audio/USB/database drivers), it
// takes a callback and a `void* user_data`, and later calls the callback from
// a thread of its own. It never looks at user_data: the consumer addons store
// a handle-registry handle there (hr::to_user_data) and get it back in the
// callback (hr::from_user_data).
//
// Header-only with internal linkage, so two addons that both include it do not
// share (or clash on) its symbols.
#ifndef HR_CONSUMER_FAKE_CLIB_H_
#define HR_CONSUMER_FAKE_CLIB_H_

#include <stdint.h>

#include <atomic>
#include <thread>

extern "C" {
/* Called count times with seq = 0, 1, ..., count-1 and value = seq. */
typedef void (*fake_data_cb)(void* user_data, uint32_t seq, double value);
}

struct fake_stream {
  std::thread thread;
  std::atomic<int> done{0};
};

/* Starts a stream: a new thread calls cb(user_data, i, i) for i = 0..count-1,
 * in order. Returns NULL if no thread could be started. */
static inline fake_stream* fake_stream_start(fake_data_cb cb, void* user_data, uint32_t count) {
  fake_stream* s = new fake_stream();
  s->thread = std::thread([s, cb, user_data, count] {
    for (uint32_t i = 0; i < count; ++i) cb(user_data, i, static_cast<double>(i));
    s->done.store(1, std::memory_order_release);
  });
  return s;
}

/* 1 once the stream's last callback has returned. */
static inline int fake_stream_done(const fake_stream* s) {
  return s->done.load(std::memory_order_acquire);
}

/* Waits for the stream's thread and frees the stream. */
static inline void fake_stream_join(fake_stream* s) {
  if (s->thread.joinable()) s->thread.join();
  delete s;
}

#endif  // HR_CONSUMER_FAKE_CLIB_H_
