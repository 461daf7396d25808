// calls.cc: api->call (calls.h): queueing a call, waiting for its reply, and
// the JS thread's table of calls handed to JS, answered by reply_call or
// completed with REGISTRY_CLOSED at teardown.
#include "calls.h"

#include <cmath>
#include <new>
#include <unordered_map>

#include "event_path.h"
#include "owners.h"
#include "status_codes.h"

namespace hr_native {

using namespace status;  // kOk, kFull, ...: status_codes.h

// Calls handed to JS and not answered yet, by id: the JS side's reference of
// each record. The owner's JS thread only.
struct CallTable {
  std::unordered_map<uint64_t, CallRecord*> pending;
};

namespace {

// Where the callers of each owner sleep: owner index mod kWakeSlots. Static
// and never freed (a caller may sleep on it after its owner closed).
constexpr uint32_t kWakeSlots = 64;
WakeSlot g_wake_slots[kWakeSlots];

// While on_async runs a batch (begin/end_delivery), replies only publish their
// status; the slot is woken once when the batch's callback returns.
thread_local bool t_delivering = false;
thread_local WakeSlot* t_deferred = nullptr;
thread_local uint32_t t_deferred_bits = 0;  // wake bits of the deferred slot's completed calls

void wake_later(const CallRecord* rec) noexcept {
  WakeSlot* slot = rec->slot();
  if (!t_delivering) {
    slot->wake(rec->wake_bit());
    return;
  }
  if (t_deferred != nullptr && t_deferred != slot) {
    t_deferred->wake(t_deferred_bits);
    t_deferred_bits = 0;
  }
  t_deferred = slot;
  t_deferred_bits |= rec->wake_bit();
}

// Call ids: unique on each JS thread (a path lives on one thread), so a reply
// that comes after its call was cancelled, its path closed and another path
// opened never answers a later call.
thread_local uint64_t t_next_call_id = 1;

constexpr double kOffsetScale = 131072.0;  // 2^17 > HR_MAX_BYTES: offset * 2^17 + size

CallRecord* record_of(const Event& e) noexcept { return static_cast<CallRecord*>(unpack_bytes(e.payload)); }

}  // namespace

int32_t queue_call(OwnerSlot& s, EventPath* p, uint64_t h, uint32_t kind, double payload,
                   const void* data, uint32_t size, CallRecord** out) noexcept {
  const int32_t admitted = admit_bytes(s, p, size);
  if (admitted != kOk) return admitted;
  WakeSlot* slot = &g_wake_slots[static_cast<uint32_t>(&s - g_owners) % kWakeSlots];
  CallRecord* rec = CallRecord::create(slot, kind, size > 0 ? 0.0 : payload, data, size);
  if (rec == nullptr) {
    s.dropped_full.fetch_add(1, std::memory_order_relaxed);
    return kFull;
  }
  // Through the full policy, as a post: under 'grow' the overflow may hold
  // this thread's earlier events, which the call must not overtake. A call
  // never waits for room ('block'): a full queue answers QUEUE_FULL.
  const Event ev{h, kind, kCallMark, pack_bytes(rec)};
  if (path_enqueue(p, ev, event_extra(ev)) != hr::Status::kOk) {
    s.dropped_full.fetch_add(1, std::memory_order_relaxed);
    rec->release();
    rec->release();  // neither side has it: free
    return kFull;
  }
  wake(p);
  *out = rec;
  return kOk;
}

int32_t await_call(CallRecord* rec, uint32_t timeout_ms, hr_reply_v1* reply) noexcept {
  CallReply r;
  const int32_t st = rec->wait(timeout_ms, reply != nullptr ? &r : nullptr);
  rec->release();
  if (reply != nullptr && st == kOk) {
    reply->number = r.number;
    reply->bytes = r.bytes;
    reply->size = r.size;
    reply->is_bytes = r.is_bytes ? 1 : 0;
  }
  return st;
}

void free_reply(hr_reply_v1* reply) noexcept {
  if (reply == nullptr) return;
  std::free(reply->bytes);
  *reply = hr_reply_v1{0, nullptr, 0, 0};
}

bool call_to_record(EventPath* p, const Event& e, double* r, uint8_t* arena, size_t arena_length,
                    size_t* used) noexcept {
  CallRecord* rec = record_of(e);
  const uint32_t size = rec->size();
  if (size > 0 && (arena == nullptr || *used > arena_length || size > arena_length - *used)) return false;
  const uint64_t id = t_next_call_id++;
  bool kept = false;
  try {
    if (p->calls == nullptr) p->calls = new CallTable();
    kept = p->calls->pending.emplace(id, rec).second;
  } catch (const std::bad_alloc&) {
    kept = false;
  }
  if (!kept) {
    // No room to track it: answer at once, and hand JS a record it skips
    // (handle 0 is never live).
    rec->complete(kFull);
    wake_later(rec);
    rec->release();
    r[0] = 0;
    r[1] = 0;
    r[2] = 0;
    r[3] = 0;
    return true;
  }
  r[0] = static_cast<double>(e.handle);
  r[1] = static_cast<double>(e.kind);
  if (size == 0) {
    r[2] = rec->payload();
    r[3] = -2.0 * static_cast<double>(id);
    return true;
  }
  std::memcpy(arena + *used, rec->bytes(), size);
  r[2] = static_cast<double>(*used) * kOffsetScale + size;
  r[3] = -(2.0 * static_cast<double>(id) + 1);
  *used += (static_cast<size_t>(size) + 7) & ~size_t{7};
  return true;
}

void drop_queued_call(const Event& e) noexcept {
  CallRecord* rec = record_of(e);
  rec->complete(kClosedSt);
  rec->slot()->wake(rec->wake_bit());
  rec->release();
}

void begin_delivery() noexcept { t_delivering = true; }

void end_delivery() noexcept {
  t_delivering = false;
  if (t_deferred != nullptr) {
    t_deferred->wake(t_deferred_bits);
    t_deferred = nullptr;
    t_deferred_bits = 0;
  }
}

bool reply_call(EventPath* p, double id, int32_t status, CallReply reply) noexcept {
  CallTable* t = p->calls;
  // Ids are integers 1 .. 2^53 - 1; anything else answers nobody.
  const bool valid_id = id >= 1 && id <= 9007199254740991.0 && std::floor(id) == id;
  if (t == nullptr || !valid_id) {
    std::free(reply.bytes);
    return false;
  }
  const auto it = t->pending.find(static_cast<uint64_t>(id));
  if (it == t->pending.end()) {
    std::free(reply.bytes);  // answered, cancelled or never issued: nobody waits for it
    return false;
  }
  CallRecord* rec = it->second;
  t->pending.erase(it);
  rec->complete(status, reply);
  wake_later(rec);
  rec->release();
  return true;
}

void cancel_calls(EventPath* p, bool free_table) noexcept {
  CallTable* t = p->calls;
  if (t == nullptr) return;
  for (auto& entry : t->pending) {
    entry.second->complete(kClosedSt);
    entry.second->slot()->wake(entry.second->wake_bit());
    entry.second->release();
  }
  t->pending.clear();
  if (free_table) {
    delete t;
    p->calls = nullptr;
  }
}

}  // namespace hr_native
