// addon.cc: the JS-facing functions of the handle-registry addon.
//
// Flat snake_case functions taking an owner TOKEN (claim_owner) where they
// touch an owner's memory; the TypeScript classes (src/) own validation of
// user input and state, these check only what protects native memory. They
// throw TypeError/RangeError/Error with a `code`:
//   ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE  bad argument
//   ERR_REGISTRY_CLOSED                     the owner token is not of an open claim of this thread
//   ERR_INVALID_STATE                       e.g. events already open
//   ERR_OUT_OF_MEMORY                       allocation failed
//
// About 550 lines, one short function per export plus the owner-token and
// nativeApi helpers they share; splitting it would scatter the argument
// checks that guard native memory. A thin binding layer: arguments are
// checked and converted here, the work is done by owners.cc (lifecycle),
// event_path.cc (delivery), post.cc (routing), resolve.cc (api->resolve),
// hold.cc (api->hold) and calls.cc (api->call: JS's replies). Context-aware: loaded in the main thread and in every
// worker; per-env data is napi instance data; everything process-wide is
// static (owners.h).
#include <napi.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "calls.h"
#include "event_path.h"
#include "handle_registry_layout.h"
#include "hold.h"
#include "owners.h"
#include "post.h"
#include "resolve.h"

namespace hr_native {

namespace {

EnvData* env_data(const Napi::CallbackInfo& info) {
  return info.Env().GetInstanceData<EnvData>();
}

Napi::Value fail(Napi::Env env, const char* code, const char* message, char kind = 'E') {
  Napi::Error err = kind == 'T'   ? Napi::TypeError::New(env, message)
                    : kind == 'R' ? Napi::RangeError::New(env, message)
                                  : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

// An integer argument in [lo, hi], or false (and a pending exception).
bool integer_arg(const Napi::CallbackInfo& info, size_t i, double lo, double hi,
                 const char* message, double* out) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) {
    fail(env, "ERR_INVALID_ARG_TYPE", message, 'T');
    return false;
  }
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= lo && v <= hi) || std::floor(v) != v) {
    fail(env, "ERR_OUT_OF_RANGE", message, 'R');
    return false;
  }
  *out = v;
  return true;
}

// Owner tokens: claim_owner hands out an external tagged with kOwnerTag whose
// data is incarnation << 12 | owner (a number, not an address). Every call
// that touches an owner's memory takes the token, so JS that merely knows an
// owner index (registry.ownerId) cannot close, grow or claim for it, and a
// token of an earlier claim of the index fails. JS cannot forge externals.
const napi_type_tag kOwnerTag = {0x2f6c1e9a7d354b80ull, 0x93e5a0c4b7d21f68ull};
constexpr uint32_t kTokenOwnerBits = 12;
static_assert((1u << kTokenOwnerBits) > lay::kMaxOwners, "owner fits the token");

// (owner, incarnation) of the token in argument i, or false.
bool token_arg(const Napi::CallbackInfo& info, size_t i, uint32_t* owner, uint32_t* incarnation) {
  if (i >= info.Length() || !info[i].IsExternal()) return false;
  bool tagged = false;
  if (napi_check_object_type_tag(info.Env(), info[i], &kOwnerTag, &tagged) != napi_ok || !tagged) return false;
  const uintptr_t v = reinterpret_cast<uintptr_t>(info[i].As<Napi::External<void>>().Data());
  *owner = static_cast<uint32_t>(v & ((uintptr_t{1} << kTokenOwnerBits) - 1));
  *incarnation = static_cast<uint32_t>(v >> kTokenOwnerBits);
  return true;
}

// The owner whose token is argument 0, open and claimed by this env; else throws.
OwnerSlot* own_arg(const Napi::CallbackInfo& info, uint32_t* owner_out) {
  uint32_t owner = 0, incarnation = 0;
  if (!token_arg(info, 0, &owner, &incarnation)) {
    fail(info.Env(), "ERR_INVALID_ARG_TYPE", "handle-registry: expected an owner token from claim_owner()", 'T');
    return nullptr;
  }
  OwnerSlot* s = owned_slot(env_data(info), owner, incarnation);
  if (s == nullptr) {
    fail(info.Env(), "ERR_REGISTRY_CLOSED",
         "handle-registry: this owner index is not open in this thread");
    return nullptr;
  }
  *owner_out = owner;
  return s;
}

// A JS number as a handle; anything that is not an integer 1..2^53-1 gives 0
// (never a handle), which post/is_live report as invalid.
uint64_t handle_of(double d) {
  if (!(d >= 1 && d <= static_cast<double>(hr::kMaxHandle)) || std::floor(d) != d) return 0;
  return static_cast<uint64_t>(d);
}

#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
void noop_finalize(napi_env, void*, void*) {}
#endif

// ---------------------------------------------------------------------------

Napi::Value DomainBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvData* ed = env_data(info);
  napi_value ab = nullptr;
  if (ed->domain_buffer != nullptr &&
      napi_get_reference_value(env, ed->domain_buffer, &ab) == napi_ok && ab != nullptr) {
    return Napi::Value(env, ab);
  }
  Word* words = domain();
#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  if (napi_create_external_arraybuffer(env, words, dom::kDomainBytes, noop_finalize, nullptr, &ab) != napi_ok) {
    return env.Undefined();  // exception pending
  }
#else
  // No external ArrayBuffers (Electron): a JS-owned copy per env, refreshed
  // by domain_sync() on this thread only (never written from another thread,
  // so a transferred or detached copy is never written after it is gone).
  (void)words;
  void* data = nullptr;
  if (napi_create_arraybuffer(env, dom::kDomainBytes, &data, &ab) != napi_ok) {
    return env.Undefined();  // exception pending
  }
  copy_domain_words(static_cast<int32_t*>(data), 0, dom::kDomainWords);
#endif
  if (ed->domain_buffer != nullptr) napi_delete_reference(env, ed->domain_buffer);
  napi_create_reference(env, ab, 1, &ed->domain_buffer);
  return Napi::Value(env, ab);
}

#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
// domain_sync(first, count): copies domain words [first, first + count) (clamped)
// into this env's copy of the domain (words other threads changed).
Napi::Value DomainSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvData* ed = env_data(info);
  const double first = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  const double count = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!(first >= 0 && first < static_cast<double>(dom::kDomainWords)) || !(count > 0)) return env.Undefined();
  const size_t begin = static_cast<size_t>(first);
  const size_t end = static_cast<size_t>(
      std::min<double>(static_cast<double>(dom::kDomainWords), static_cast<double>(begin) + std::floor(count)));
  sync_domain_copy(ed, begin, end - begin);
  return env.Undefined();
}
#endif

// claim_owner() -> { owner, token }, or { owner: 0 } when every index is taken.
Napi::Value ClaimOwner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  uint32_t incarnation = 0;
  const uint32_t owner = claim_owner(env_data(info), &incarnation);
  o.Set("owner", Napi::Number::New(env, owner));
  if (owner == 0) return o;
  const uintptr_t data = static_cast<uintptr_t>(incarnation) << kTokenOwnerBits | owner;
  napi_value token = nullptr;
  if (napi_create_external(env, reinterpret_cast<void*>(data), nullptr, nullptr, &token) != napi_ok ||
      napi_type_tag_object(env, token, &kOwnerTag) != napi_ok) {
    close_owner(env_data(info), owner);
    if (env.IsExceptionPending()) return env.Undefined();
    return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: out of memory", 'R');
  }
  // api->hold's uv handle; without it holds get not_attached (hold.cc).
  open_holds(env_data(info), owner);
  o.Set("token", Napi::Value(env, token));
  return o;
}

// claim_block(token, shard, page) -> block + base * 2^20, or 0 when none is left.
// claim_block(token, shard, page, count, out) claims `count` blocks in one call,
// for shards shard.. and pages page.. in step (a registry's first pages):
// out[i] = block + base * 2^20; returns how many it claimed (fewer when the
// domain runs out; those it claimed belong to the owner all the same).
Napi::Value ClaimBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  double shard, page, count = 1;
  if (s == nullptr ||
      !integer_arg(info, 1, 0, lay::kMaxRegistryShards - 1, "handle-registry: expected a shard index from 0 to 255", &shard) ||
      !integer_arg(info, 2, 0, lay::kMaxPages - 1, "handle-registry: expected a page index from 0 to 2^19-1", &page) ||
      (info.Length() > 3 &&
       !integer_arg(info, 3, 1, std::min(lay::kMaxRegistryShards - shard, lay::kMaxPages - page),
                    "handle-registry: expected a block count from 1 to the shards and pages left", &count))) {
    return env.Undefined();
  }
  double* out = nullptr;
  if (info.Length() > 3) {
    if (info.Length() < 5 || !info[4].IsTypedArray() ||
        info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[4].As<Napi::TypedArray>().ElementLength() < static_cast<size_t>(count)) {
      return fail(env, "ERR_INVALID_ARG_TYPE",
                  "handle-registry: expected a Float64Array of at least `count` elements for the claimed blocks", 'T');
    }
    out = info[4].As<Napi::Float64Array>().Data();
  }
  uint32_t claimed = 0;
  for (; claimed < static_cast<uint32_t>(count); ++claimed) {
    uint32_t block = 0, base = 0;
    const ClaimResult r = claim_block(owner, static_cast<uint32_t>(shard) + claimed,
                                      static_cast<uint32_t>(page) + claimed, &block, &base);
    if (r == ClaimResult::kExhausted) break;
    if (r == ClaimResult::kOutOfMemory) {
      if (claimed > 0) break;
      return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: out of memory", 'R');
    }
    // block + base * 2^20: the block and the first generation to issue in it.
    const double v = static_cast<double>(base) * lay::kMaxBlocks + block;
    if (out == nullptr) return Napi::Number::New(env, v);
    out[claimed] = v;
  }
  return Napi::Number::New(env, out == nullptr ? 0 : claimed);
}

// release_owner(token[, used]): used, a Uint16Array, per page the slots the
// registry ever issued (its bump pointers), bounds the scan for generation bases.
Napi::Value ReleaseOwner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  if (own_arg(info, &owner) == nullptr) return env.Undefined();
  const uint16_t* used = nullptr;
  uint32_t n_used = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array) {
      return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: expected a Uint16Array of used slots per page", 'T');
    }
    Napi::Uint16Array a = info[1].As<Napi::Uint16Array>();
    used = a.Data();
    n_used = used == nullptr ? 0 : static_cast<uint32_t>(std::min<size_t>(a.ElementLength(), lay::kMaxPages));
  }
  close_owner(env_data(info), owner, used, n_used);  // its blocks: from the private list only
  return env.Undefined();
}

Napi::Value AllocState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  double slots;
  if (s == nullptr ||
      !integer_arg(info, 1, 1, lay::kMaxStateSlots, "handle-registry: expected a slot count from 1 to 2^27", &slots)) {
    return env.Undefined();
  }
  bool out_of_memory = false;
  napi_value ab = alloc_state(env_data(info), owner, static_cast<uint32_t>(slots), &out_of_memory);
  if (out_of_memory) return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: out of memory for slot states", 'R');
  if (ab == nullptr) return env.Undefined();  // exception pending
  return Napi::Value(env, ab);
}

Napi::Value OpenEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvData* ed = env_data(info);
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  double capacity;
  if (s == nullptr ||
      !integer_arg(info, 1, 2, 1 << 24, "handle-registry: expected a queue capacity from 2 to 2^24", &capacity)) {
    return env.Undefined();
  }
  if (info.Length() < 4 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[2].As<Napi::TypedArray>().ElementLength() < 4) {
    return fail(env, "ERR_INVALID_ARG_TYPE",
                "handle-registry: expected a Float64Array of at least 4 elements as the event batch", 'T');
  }
  if (!info[3].IsFunction()) {
    return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: expected a callback function", 'T');
  }
  // Optional arena for byte events; without one, post_bytes gets payload_too_large.
  napi_value arena = nullptr;
  size_t arena_length = 0;
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        info[4].As<Napi::TypedArray>().ElementLength() == 0) {
      return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: expected a non-empty Uint8Array as the byte arena", 'T');
    }
    arena = info[4];
    arena_length = info[4].As<Napi::TypedArray>().ElementLength();
  }
  if (s->path != nullptr) {
    return fail(env, "ERR_INVALID_STATE", "handle-registry: events are already open for this owner");
  }
  const size_t batch_max = info[2].As<Napi::TypedArray>().ElementLength() / 4;
  const char* why = nullptr;
  if (open_event_path(ed, owner, static_cast<size_t>(capacity), info[2], batch_max, info[3], arena,
                      arena_length, &why) == nullptr) {
    if (env.IsExceptionPending()) return env.Undefined();
    return fail(env, "ERR_OUT_OF_MEMORY", why, 'R');
  }
  return env.Undefined();
}

Napi::Value CloseEvents(const Napi::CallbackInfo& info) {
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  if (s != nullptr) close_event_path(env_data(info), *s);
  return info.Env().Undefined();
}

// set_when_full(token, policy, timeoutMs, overflowBytes): onEvent's whenFull
// for the open event path (back_pressure.h): 0 drop, 1 block (timeoutMs,
// 2^32-1 = no limit), 2 grow (overflowBytes beyond the ring).
Napi::Value SetWhenFull(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  double policy, timeout, overflow;
  if (s == nullptr || !integer_arg(info, 1, 0, 2, "handle-registry: expected a whenFull code from 0 to 2", &policy) ||
      !integer_arg(info, 2, 0, kWaitForever, "handle-registry: expected a timeout from 0 to 2^32-1 ms", &timeout) ||
      !integer_arg(info, 3, 0, 9007199254740991.0, "handle-registry: expected an overflow byte count", &overflow)) {
    return env.Undefined();
  }
  if (s->path == nullptr) return fail(env, "ERR_INVALID_STATE", "handle-registry: events are not open for this owner");
  FullState<Event>& f = s->path->full;
  f.timeout_ms.store(static_cast<uint32_t>(timeout), std::memory_order_relaxed);
  f.overflow_cap.store(static_cast<size_t>(overflow), std::memory_order_relaxed);
  f.when_full.store(static_cast<uint32_t>(policy), std::memory_order_relaxed);
  return env.Undefined();
}

Napi::Value Post(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double kind;
  if (info.Length() < 3 || !info[0].IsNumber() || !info[2].IsNumber()) {
    return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: post(handle, kind, payload) takes three numbers", 'T');
  }
  if (!integer_arg(info, 1, 0, 4294967295.0, "handle-registry: expected an event kind from 0 to 2^32-1", &kind)) {
    return env.Undefined();
  }
  const uint64_t h = handle_of(info[0].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(env, post(h, static_cast<uint32_t>(kind), info[2].As<Napi::Number>().DoubleValue()));
}

Napi::Value IsLive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, is_live(handle_of(info[0].As<Napi::Number>().DoubleValue())) == 1);
}

Napi::Value EventStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Read-only counters: an owner index (0 = unattributed) or an owner token.
  uint32_t owner = 0, incarnation = 0;
  if (!token_arg(info, 0, &owner, &incarnation)) {
    double owner_d;
    if (!integer_arg(info, 0, 0, lay::kMaxOwners, "handle-registry: expected an owner index from 0 to 4095", &owner_d)) {
      return env.Undefined();
    }
    owner = static_cast<uint32_t>(owner_d);
  }
  uint64_t delivered = 0, stale = 0, closed = 0, full = 0, at_close = 0, invalid = 0, too_large = 0, pending = 0,
           timeout = 0;
  if (owner == 0) {
    closed = g_unrouted_closed.load(std::memory_order_relaxed);
    invalid = g_unrouted_invalid.load(std::memory_order_relaxed);
  } else {
    OwnerSlot& s = g_owners[owner];
    delivered = s.delivered.load(std::memory_order_relaxed);
    stale = s.dropped_stale.load(std::memory_order_relaxed);
    closed = s.dropped_closed.load(std::memory_order_relaxed);
    full = s.dropped_full.load(std::memory_order_relaxed);
    at_close = s.dropped_at_close.load(std::memory_order_relaxed);
    invalid = s.dropped_invalid.load(std::memory_order_relaxed);
    too_large = s.dropped_too_large.load(std::memory_order_relaxed);
    timeout = s.dropped_timeout.load(std::memory_order_relaxed);
    if (s.env.load(std::memory_order_acquire) == env_data(info) && s.path != nullptr) {
      pending = path_queued(s.path);
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("posted", Napi::Number::New(env, static_cast<double>(delivered + pending + stale + closed + full +
                                                               at_close + invalid + too_large + timeout)));
  o.Set("delivered", Napi::Number::New(env, static_cast<double>(delivered)));
  o.Set("droppedStale", Napi::Number::New(env, static_cast<double>(stale)));
  o.Set("droppedClosed", Napi::Number::New(env, static_cast<double>(closed)));
  o.Set("droppedFull", Napi::Number::New(env, static_cast<double>(full)));
  o.Set("droppedAtClose", Napi::Number::New(env, static_cast<double>(at_close)));
  o.Set("droppedInvalid", Napi::Number::New(env, static_cast<double>(invalid)));
  o.Set("droppedTooLarge", Napi::Number::New(env, static_cast<double>(too_large)));
  o.Set("droppedTimeout", Napi::Number::New(env, static_cast<double>(timeout)));
  o.Set("pending", Napi::Number::New(env, static_cast<double>(pending)));
  return o;
}

// --- calls (calls.cc): JS answers the calls its batches handed to it ---

// call_reply(token, id, status, reply?): status 0 (ok) with a number or a
// Uint8Array (copied), or THREW / REGISTRY_CLOSED / STALE_HANDLE. Returns
// whether a caller was still waiting for this call id on this owner's path
// (false: answered, cancelled or timed out and closed before; nothing done).
Napi::Value ReplyCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  if (s == nullptr) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber()) {
    return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: call_reply(owner, id, status, reply)", 'T');
  }
  const double id = info[1].As<Napi::Number>().DoubleValue();
  const double st = info[2].As<Napi::Number>().DoubleValue();
  hr_native::CallReply reply;
  if (st == 0) {
    if (info.Length() > 3 && info[3].IsNumber()) {
      reply.number = info[3].As<Napi::Number>().DoubleValue();
    } else if (info.Length() > 3 && info[3].IsTypedArray() &&
               info[3].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      Napi::Uint8Array bytes = info[3].As<Napi::Uint8Array>();
      reply.is_bytes = true;
      reply.size = static_cast<uint32_t>(std::min<size_t>(bytes.ElementLength(), 0xFFFFFFFFu));
      if (reply.size > 0) {
        reply.bytes = std::malloc(reply.size);
        if (reply.bytes == nullptr) return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: out of memory for a call reply", 'R');
        std::memcpy(reply.bytes, bytes.Data(), reply.size);
      }
    } else {
      return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: a call reply is a number or a Uint8Array", 'T');
    }
  } else if (st != HR_STATUS_THREW && st != HR_STATUS_REGISTRY_CLOSED && st != HR_STATUS_STALE_HANDLE) {
    return fail(env, "ERR_OUT_OF_RANGE", "handle-registry: a call is answered ok, threw, registry_closed or stale_handle", 'R');
  }
  if (s->path == nullptr) {
    std::free(reply.bytes);
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, reply_call(s->path, id, static_cast<int32_t>(st), reply));
}

// cancel_calls(token): offCall while events keep the path open: every call
// handed to JS and not answered yet gets REGISTRY_CLOSED.
Napi::Value CancelCalls(const Napi::CallbackInfo& info) {
  uint32_t owner;
  OwnerSlot* s = own_arg(info, &owner);
  if (s != nullptr && s->path != nullptr) cancel_calls(s->path, false);
  return info.Env().Undefined();
}

// --- resolve (resolve.cc): what api->resolve reads, published by the registry ---

// publish_values(token, vals): the registry's values array, after each growth.
Napi::Value PublishValues(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  if (own_arg(info, &owner) == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) {
    return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: expected the registry's values array", 'T');
  }
  if (publish_values(env_data(info), owner, info[1]) != napi_ok && !env.IsExceptionPending()) {
    return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: could not reference the values array", 'R');
  }
  return env.Undefined();
}

// note_weak(token, handle, target) -> status: the target of a weak handle the
// owner just registered. The handle must route (privately) to that owner: a
// token of one registry cannot plant a value for another's handle.
Napi::Value NoteWeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t owner;
  if (own_arg(info, &owner) == nullptr) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsNumber() || !(info[2].IsObject() || info[2].IsFunction())) {
    return fail(env, "ERR_INVALID_ARG_TYPE", "handle-registry: note_weak(owner, handle, object)", 'T');
  }
  return Napi::Number::New(env, note_weak(owner, handle_of(info[1].As<Napi::Number>().DoubleValue()), info[2]));
}

// set_ref(token, ref): registry.ref() / unref() (hold.cc).
Napi::Value SetRef(const Napi::CallbackInfo& info) {
  uint32_t owner;
  if (own_arg(info, &owner) != nullptr) set_ref(owner, info.Length() > 1 && info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

// registry.nativeApi: the C ABI table as an external tagged with
// HR_API_TYPE_TAG_*, so hr::attach can tell it from anything JS makes (JS
// cannot create externals nor set type tags). One per env, kept by a strong
// reference; the table itself is static.
Napi::Value NativeApi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvData* ed = env_data(info);
  napi_value ext = nullptr;
  if (ed->native_api != nullptr && napi_get_reference_value(env, ed->native_api, &ext) == napi_ok && ext != nullptr) {
    return Napi::Value(env, ext);
  }
  static const napi_type_tag tag = {HR_API_TYPE_TAG_LOWER, HR_API_TYPE_TAG_UPPER};
  // The external holds a never-freed heap copy of the table: util.inspect
  // shows an external's data address, and a heap address does not reveal
  // where the addon (its code and static domain) is loaded.
  static hr_api_v1* const copy = new (std::nothrow) hr_api_v1(*api_table());
  if (copy == nullptr) return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: out of memory");
  if (napi_create_external(env, copy, nullptr, nullptr, &ext) != napi_ok ||
      napi_type_tag_object(env, ext, &tag) != napi_ok ||
      napi_create_reference(env, ext, 1, &ed->native_api) != napi_ok) {
    if (env.IsExceptionPending()) return env.Undefined();
    return fail(env, "ERR_OUT_OF_MEMORY", "handle-registry: could not create the native API object");
  }
  return Napi::Value(env, ext);
}

// Env teardown (worker exit, process exit): close every owner this env still
// holds, then wait for the uv_close callbacks of their async handles.
void on_env_cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  EnvData* ed = static_cast<EnvData*>(arg);
  ed->in_cleanup = true;
  ed->cleanup = handle;
  for (uint32_t owner = 1; owner <= lay::kMaxOwners; ++owner) {
    OwnerSlot& s = g_owners[owner];
    if (s.env.load(std::memory_order_acquire) == ed && s.status.load(std::memory_order_acquire) == kOpen) {
      close_owner(ed, owner);
    }
  }
  if (ed->domain_buffer != nullptr) {
    napi_delete_reference(ed->env, ed->domain_buffer);
    ed->domain_buffer = nullptr;
  }
  if (ed->native_api != nullptr) {
    napi_delete_reference(ed->env, ed->native_api);
    ed->native_api = nullptr;
  }
  close_hold_loop(ed);  // every owner of the env is closed: no hold can arrive
  maybe_finish_cleanup(ed);
}

void finalize_env_data(napi_env, void* data, void*) {
  delete static_cast<EnvData*>(data);
}

// Keeps this shared library mapped until the process ends. Node dlclose()s
// an addon when the last env that loaded it is destroyed (e.g. a worker that
// was the only thread to load it); unmapping would pull the static domain,
// the owner slots and the code itself from under native threads still
// posting. So the library takes one reference of its own that is never
// dropped (RTLD_NODELETE / GET_MODULE_HANDLE_EX_FLAG_PIN).
void pin_module() {
  static std::atomic<bool> pinned{false};  // trivially destructible
  if (pinned.exchange(true)) return;
#if defined(_WIN32)
  HMODULE self = nullptr;
  GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                     reinterpret_cast<LPCWSTR>(&pin_module), &self);
#else
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&pin_module), &info) != 0 && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_LAZY | RTLD_NODELETE);  // handle leaked on purpose
  }
#endif
}

}  // namespace

}  // namespace hr_native

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace hr_native;
  pin_module();
  EnvData* ed = new (std::nothrow) EnvData();
  if (ed == nullptr) {
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "handle-registry: out of memory");
    return nullptr;
  }
  ed->env = env;
  if (napi_set_instance_data(env, ed, finalize_env_data, nullptr) != napi_ok) {
    delete ed;
    return nullptr;
  }
  if (napi_add_async_cleanup_hook(env, on_env_cleanup, ed, nullptr) != napi_ok) return nullptr;
  domain();

  Napi::Env e(env);
  Napi::Object o(env, exports);
  o.Set("abi_version", Napi::Number::New(e, HANDLE_REGISTRY_ABI_VERSION));
  o.Set("domain_buffer", Napi::Function::New(e, DomainBuffer, "domain_buffer"));
#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  o.Set("domain_sync", Napi::Function::New(e, DomainSync, "domain_sync"));
#endif
  o.Set("claim_owner", Napi::Function::New(e, ClaimOwner, "claim_owner"));
  o.Set("claim_block", Napi::Function::New(e, ClaimBlock, "claim_block"));
  o.Set("release_owner", Napi::Function::New(e, ReleaseOwner, "release_owner"));
  o.Set("alloc_state", Napi::Function::New(e, AllocState, "alloc_state"));
  o.Set("open_events", Napi::Function::New(e, OpenEvents, "open_events"));
  o.Set("close_events", Napi::Function::New(e, CloseEvents, "close_events"));
  o.Set("set_when_full", Napi::Function::New(e, SetWhenFull, "set_when_full"));
  o.Set("post", Napi::Function::New(e, Post, "post"));
  o.Set("is_live", Napi::Function::New(e, IsLive, "is_live"));
  o.Set("event_stats", Napi::Function::New(e, EventStats, "event_stats"));
  o.Set("native_api", Napi::Function::New(e, NativeApi, "native_api"));
  o.Set("publish_values", Napi::Function::New(e, PublishValues, "publish_values"));
  o.Set("note_weak", Napi::Function::New(e, NoteWeak, "note_weak"));
  o.Set("set_ref", Napi::Function::New(e, SetRef, "set_ref"));
  o.Set("call_reply", Napi::Function::New(e, ReplyCall, "call_reply"));
  o.Set("cancel_calls", Napi::Function::New(e, CancelCalls, "cancel_calls"));
  return exports;
}
