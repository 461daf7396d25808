// Handle layout, encode/decode, user_data, is_valid, Status, hashing.

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "check.h"
#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_diagnostics.h"
#include "handle_registry_sharded_map.h"  // fmix64

namespace {

constexpr uint64_t kTwo28 = uint64_t{1} << 28;

// Compile-time checks: these helpers are constexpr.
static_assert(hr::make_handle(1, 0, 0) == 256, "first handle of block 1");
static_assert(hr::is_valid(hr::make_handle(1, 0, 0)), "block 1 is valid");
static_assert(!hr::is_valid(0), "0 is never a handle");
static_assert(hr::decode(hr::kMaxHandle).generation == hr::layout::kGenMax, "gen max");
static_assert(hr::fmix64(0) == 0, "fmix64(0)");
static_assert(hr::status_name(hr::Status::kOk)[0] == 'o', "constexpr name");

}  // namespace

TEST(constants_match_design_md) {
  CHECK_EQ(hr::layout::kSlotBits, 28u);
  CHECK_EQ(hr::layout::kOffsetBits, 8u);
  CHECK_EQ(hr::layout::kBlockBits, 20u);
  CHECK_EQ(hr::layout::kGenBits, 25u);
  CHECK_EQ(hr::layout::kGenMax, 33554431u);  // 2^25 - 1
  CHECK_EQ(hr::layout::kSlotsPerBlock, 256u);
  CHECK_EQ(hr::layout::kMaxOwners, 4095u);
  CHECK_EQ(hr::layout::kMaxBlocks, 1048576u);  // 1 << 20
  CHECK_EQ(hr::kMaxHandle, uint64_t{9007199254740991});  // 2^53 - 1
  CHECK_EQ(hr::layout::kSlotMask, 0x0fffffffu);
  CHECK_EQ(hr::layout::kMaxRegistryShards, 256u);

  namespace d = hr::domain;
  CHECK_EQ(d::kMagic, 0x48524731);
  CHECK_EQ(d::kLayoutVersion, 1);
  CHECK_EQ(d::kMagicIndex, 0u);
  CHECK_EQ(d::kLayoutVersionIndex, 1u);
  CHECK_EQ(d::kNextBlockIndex, 2u);
  CHECK_EQ(d::kOwnerHintIndex, 3u);
  CHECK_EQ(d::kLiveOwnersIndex, 4u);
  CHECK_EQ(d::kHeaderWords, 16u);
  CHECK_EQ(d::kOwnersBase, 16u);
  CHECK_EQ(d::kBlocksBase, 4112u);  // 16 + 4096
  CHECK_EQ(d::kWordsPerBlock, 2u);
  CHECK_EQ(d::kDomainWords, 4112u + 2u * 1048576u);
  CHECK(d::kDomainBytes > 8400000u && d::kDomainBytes < 8410000u);  // "8.4 MB"
  CHECK_EQ(d::kClaimed, 1 << 30);
  CHECK_EQ(d::kRetired, 1 << 29);
  CHECK_EQ(d::kShardShift, 12u);
  CHECK_EQ(d::kOwnerMask, 0xfffu);
  CHECK_EQ(d::block_word_index(0), 4112u);
  CHECK_EQ(d::block_word_index(1), 4114u);
  CHECK_EQ(d::block_word_index(hr::layout::kMaxBlocks - 1) + 2, d::kDomainWords);
  CHECK_EQ(d::owner_word_index(1), 17u);
  CHECK_EQ(d::owner_word_index(4095), 16u + 4095u);
  // Owner and shard fields do not overlap each other or the flag bits.
  CHECK_EQ((d::kOwnerMask & (d::kShardMask << d::kShardShift)), 0u);
  CHECK_EQ(((d::kShardMask << d::kShardShift) &
            static_cast<uint32_t>(d::kClaimed | d::kRetired)), 0u);
  CHECK(((hr::layout::kMaxRegistryShards - 1) & ~d::kShardMask) == 0);
}

TEST(version_macros) {
  CHECK_EQ(HANDLE_REGISTRY_VERSION_MAJOR, 0);
  CHECK_EQ(HANDLE_REGISTRY_VERSION_MINOR, 1);
  CHECK_EQ(HANDLE_REGISTRY_VERSION_PATCH, 0);
  CHECK_EQ(HANDLE_REGISTRY_VERSION, 100);
  CHECK_EQ(HANDLE_REGISTRY_ABI_VERSION, 1);
}

TEST(encode_decode_round_trip_edges) {
  const uint32_t blocks[] = {1, 2, 255, 256, 4095, 65536, hr::layout::kBlockMask - 1,
                             hr::layout::kBlockMask};
  const uint32_t offsets[] = {0, 1, 127, 128, 254, 255};
  const uint32_t gens[] = {0, 1, 7, 8, 255, 1u << 24, hr::layout::kGenMax - 1,
                           hr::layout::kGenMax};
  for (uint32_t b : blocks) {
    for (uint32_t o : offsets) {
      for (uint32_t g : gens) {
        const hr::Handle h = hr::make_handle(b, o, g);
        // Same value as the design's arithmetic: gen * 2^28 + slot.
        const uint64_t slot = uint64_t{b} * 256 + o;
        CHECK_EQ(h, uint64_t{g} * kTwo28 + slot);
        CHECK(hr::is_valid(h));
        const hr::Decoded d = hr::decode(h);
        CHECK_EQ(d.block, b);
        CHECK_EQ(d.offset, o);
        CHECK_EQ(d.generation, g);
        CHECK_EQ(d.slot, static_cast<uint32_t>(slot));
        CHECK_EQ(hr::make_handle(d.block, d.offset, d.generation), h);
        // JS decoding with doubles: slot = h % 2^28, gen = (h - slot) / 2^28.
        const double hd = static_cast<double>(h);
        CHECK_EQ(static_cast<uint64_t>(hd), h);  // exact: h <= 2^53 - 1
        const double js_slot = std::fmod(hd, 268435456.0);
        CHECK_EQ(static_cast<uint32_t>(js_slot), d.slot);
        CHECK_EQ(static_cast<uint32_t>((hd - js_slot) / 268435456.0), g);
      }
    }
  }
}

TEST(extreme_handles) {
  CHECK_EQ(hr::make_handle(hr::layout::kBlockMask, 255, hr::layout::kGenMax), hr::kMaxHandle);
  CHECK_EQ(hr::make_handle(1, 0, 0), uint64_t{256});
  // Smi range: every slot's first eight issues (gen 0..7) stay below 2^31.
  CHECK(hr::make_handle(hr::layout::kBlockMask, 255, 7) < (uint64_t{1} << 31));
  CHECK(hr::make_handle(1, 0, 8) >= (uint64_t{1} << 31));
  // For h < 2^31 the JS fast path h & 0x0fffffff, h >>> 28 agrees.
  const hr::Handle h = hr::make_handle(0xabcde, 0x12, 5);
  CHECK_EQ(static_cast<uint32_t>(h) & 0x0fffffffu, hr::decode(h).slot);
  CHECK_EQ(static_cast<uint32_t>(h) >> 28, 5u);
}

TEST(make_handle_masks_fields) {
  CHECK_EQ(hr::make_handle((1u << 20) | 5, 256 + 3, hr::layout::kGenMax + 1 + 2),
           hr::make_handle(5, 3, 2));
  CHECK_EQ(hr::make_handle(0xffffffffu, 0xffffffffu, 0xffffffffu),
           hr::kMaxHandle);
  CHECK(!hr::is_valid(hr::make_handle(0, 17, 3)));  // block 0
}

TEST(decode_ignores_high_bits) {
  const hr::Handle h = hr::make_handle(77, 9, 1234);
  const hr::Decoded a = hr::decode(h);
  const hr::Decoded b = hr::decode(h | (uint64_t{0x7ff} << 53));
  CHECK_EQ(a.slot, b.slot);
  CHECK_EQ(a.block, b.block);
  CHECK_EQ(a.offset, b.offset);
  CHECK_EQ(a.generation, b.generation);
  const hr::Decoded z = hr::decode(0);
  CHECK(z.slot == 0 && z.block == 0 && z.offset == 0 && z.generation == 0);
}

TEST(user_data_round_trip) {
  CHECK(hr::to_user_data(0) == nullptr);
  CHECK_EQ(hr::from_user_data(nullptr), hr::kNullHandle);
  CHECK_EQ(hr::kNullHandle, uint64_t{0});
  const hr::Handle hs[] = {1,
                           256,
                           hr::make_handle(1, 255, 0),
                           hr::make_handle(12345, 67, 8),
                           hr::make_handle(hr::layout::kBlockMask, 0, hr::layout::kGenMax),
                           hr::kMaxHandle,
                           ~uint64_t{0}};
  for (hr::Handle h : hs) {
    void* p = hr::to_user_data(h);
    CHECK(p != nullptr);
    CHECK_EQ(hr::from_user_data(p), h);
    const void* cp = p;
    CHECK_EQ(hr::from_user_data(cp), h);
  }
}

TEST(is_valid_matrix) {
  struct Row {
    uint64_t h;
    bool valid;
  };
  const Row rows[] = {
      {0, false},                                  // null
      {1, false},                                  // block 0, offset 1
      {255, false},                                // block 0, offset 255
      {256, true},                                 // block 1, offset 0
      {257, true},
      {kTwo28 - 1, true},                          // block max, offset 255, gen 0
      {kTwo28, false},                             // gen 1, block 0
      {kTwo28 + 255, false},                       // gen 1, block 0
      {kTwo28 + 256, true},                        // gen 1, block 1
      {uint64_t{1} << 31, false},                  // gen 8, block 0
      {(uint64_t{1} << 31) + 256, true},           // gen 8, block 1
      {hr::kMaxHandle, true},                      // 2^53 - 1
      {hr::kMaxHandle - 255, true},                // block max, offset 0
      {hr::kMaxHandle + 1, false},                 // 2^53
      {(uint64_t{1} << 53) + 256, false},          // above 2^53, block 1
      {uint64_t{1} << 63, false},
      {~uint64_t{0}, false},                       // UINT64_MAX
      {hr::make_handle(0, 0, hr::layout::kGenMax), false}, // block 0, gen max
  };
  for (const Row& r : rows) {
    if (hr::is_valid(r.h) != r.valid) {
      hr_test::report_failure(__FILE__, __LINE__,
                              "is_valid(" + std::to_string(r.h) + ") should be " +
                                  (r.valid ? "true" : "false"));
    }
  }
}

TEST(status_values_and_names) {
  CHECK_EQ(static_cast<int32_t>(hr::Status::kOk), 0);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kInvalidHandle), 1);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kStaleHandle), 2);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kForeignHandle), 3);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kRegistryClosed), 4);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kQueueFull), 5);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kVersionMismatch), 6);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kNotAttached), 7);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kPayloadTooLarge), 8);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kWrongThread), 9);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kCollected), 10);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kNapiFailed), 11);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kTimeout), 12);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kWouldDeadlock), 13);
  CHECK_EQ(static_cast<int32_t>(hr::Status::kThrew), 14);
  CHECK_EQ(sizeof(hr::Status), sizeof(int32_t));
  const std::string names[] = {"ok",           "invalid_handle",  "stale_handle",
                               "foreign_handle", "registry_closed", "queue_full",
                               "version_mismatch", "not_attached", "payload_too_large",
                               "wrong_thread",  "collected",      "napi_failed",
                               "timeout",       "would_deadlock", "threw"};
  for (int i = 0; i < 15; ++i) {
    CHECK_EQ(std::string(hr::status_name(static_cast<hr::Status>(i))), names[i]);
  }
  for (int i = 0; i < 15; ++i) CHECK_EQ(std::string(hr_status_name(i)), names[i]);  // the C twin
  CHECK_EQ(std::string(hr::status_name(static_cast<hr::Status>(15))), "unknown");
  CHECK_EQ(std::string(hr_status_name(15)), "unknown");
  CHECK_EQ(std::string(hr::status_name(static_cast<hr::Status>(-1))), "unknown");
}

TEST(fmix_known_values) {
  // Reference values computed independently (Python) from MurmurHash3.
  CHECK_EQ(hr::fmix64(0), uint64_t{0});
  CHECK_EQ(hr::fmix64(1), uint64_t{0xb456bcfc34c2cb2cULL});
  CHECK_EQ(hr::fmix64(2), uint64_t{0x3abf2a20650683e7ULL});
  CHECK_EQ(hr::fmix64(0x100), uint64_t{0xd5bbc1f38c9b893bULL});
  CHECK_EQ(hr::fmix64(hr::kMaxHandle), uint64_t{0xc4d3b019ff3e35e5ULL});
  CHECK_EQ(hr::fmix64(0x123456789abcdef0ULL), uint64_t{0x18b8c062f6f42398ULL});
}

TEST(fmix64_spreads_sequential_handles) {
  // 160k consecutive handles over 16 shards: each shard within 5% of 10k.
  std::vector<int> count(16, 0);
  for (uint32_t i = 0; i < 160000; ++i) {
    const hr::Handle h = hr::make_handle(1 + i / 256, i % 256, 0);
    ++count[hr::fmix64(h) & 15];
  }
  for (int c : count) CHECK(c > 9500 && c < 10500);
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
