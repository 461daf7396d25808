// hr::DomainView over a hand-built domain table (docs/design.md, "Domain").

#include <cstdint>
#include <thread>
#include <vector>

#include "check.h"
#include "handle_registry_diagnostics.h"

namespace {

namespace d = hr::domain;

// Block word 0 (route) of a block in use.
int32_t Route(uint32_t owner, uint32_t page) {
  return static_cast<int32_t>((owner << hr::layout::kPageBits) | page);
}

// Block word 1 (meta).
int32_t Claimed(uint32_t owner, uint32_t shard, bool retired = false) {
  return d::kClaimed | (retired ? d::kRetired : 0) |
         static_cast<int32_t>(shard << d::kShardShift) | static_cast<int32_t>(owner);
}

// A table with: owners 1 (gen 7), 2 (gen 9), 4095 (gen 1);
// block 1: owner 1, shard 3, page 0
// block 2: owner 2, shard 15, page 5, retired
// block 3: owner 4095, shard 255, page 123456
// block 2^20-1: owner 1, shard 0, page 1
// block 4: unclaimed
std::vector<int32_t> MakeTable() {
  std::vector<int32_t> w(d::kDomainWords, 0);
  w[d::kMagicIndex] = d::kMagic;
  w[d::kLayoutVersionIndex] = d::kLayoutVersion;
  w[d::kNextBlockIndex] = 4;
  w[d::kOwnerHintIndex] = 3;
  w[d::kLiveOwnersIndex] = 2;
  w[d::owner_word_index(1)] = 7;
  w[d::owner_word_index(2)] = 9;
  w[d::owner_word_index(4095)] = 1;
  auto set = [&](uint32_t block, int32_t route, int32_t meta) {
    w[d::block_word_index(block)] = route;
    w[d::block_word_index(block) + 1] = meta;
  };
  set(1, Route(1, 0), Claimed(1, 3));
  set(2, 0, Claimed(2, 15, true));  // closed: route cleared, meta keeps owner and shard
  set(3, Route(4095, 123456), Claimed(4095, 255));
  set(hr::layout::kBlockMask, Route(1, 1), Claimed(1, 0));
  return w;
}

}  // namespace

TEST(word_positions_by_hand) {
  // The same table written with raw indexes from docs/design.md.
  std::vector<int32_t> w = MakeTable();
  CHECK_EQ(w[0], 0x48524731);
  CHECK_EQ(w[1], 1);
  CHECK_EQ(w[16 + 1], 7);                          // OWNERS[1]
  CHECK_EQ(w[4112 + 2 * 1], (1 << 19) | 0);                 // route: owner 1, page 0
  CHECK_EQ(w[4112 + 2 * 1 + 1], (1 << 30) | (3 << 12) | 1);  // meta
  CHECK_EQ(w[4112 + 2 * 2], 0);                              // closed: no route
  CHECK_EQ(w[4112 + 2 * 2 + 1], (1 << 30) | (1 << 29) | (15 << 12) | 2);
  CHECK_EQ(w[4112 + 2 * 3], (4095 << 19) | 123456);
  CHECK_EQ(w.size(), size_t{4112 + 2 * 1048576});
}

TEST(check_and_header_words) {
  std::vector<int32_t> w = MakeTable();
  hr::DomainView v(w.data(), w.size());
  CHECK(v.attached());
  CHECK(v.check() == hr::Status::kOk);
  CHECK_EQ(v.next_block(), 4);
  CHECK_EQ(v.live_owners(), 2);
  CHECK(v.words() == w.data());
  w[d::kMagicIndex] = 0x48524732;
  CHECK(v.check() == hr::Status::kVersionMismatch);
  w[d::kMagicIndex] = d::kMagic;
  w[d::kLayoutVersionIndex] = 2;
  CHECK(v.check() == hr::Status::kVersionMismatch);
}

TEST(owner_shard_retired_page) {
  std::vector<int32_t> w = MakeTable();
  const hr::DomainView v(w.data(), w.size());
  const hr::Handle h1 = hr::make_handle(1, 17, 0);
  const hr::Handle h2 = hr::make_handle(2, 0, 8);
  const hr::Handle h3 = hr::make_handle(3, 255, hr::layout::kGenMax);
  const hr::Handle hl = hr::make_handle(hr::layout::kBlockMask, 255, 3);
  const hr::Handle h4 = hr::make_handle(4, 1, 0);

  CHECK_EQ(v.owner_of(h1), 1u);
  CHECK_EQ(v.shard_of(h1), 3u);
  CHECK(v.is_claimed(h1));
  CHECK(!v.is_retired(h1));
  CHECK(v.owned_by(h1, 1));
  CHECK(!v.owned_by(h1, 2));
  CHECK_EQ(v.page_of(h1), 0u);

  CHECK_EQ(v.owner_of(h2), 2u);  // retired blocks keep their old owner...
  CHECK_EQ(v.shard_of(h2), 15u);
  CHECK(v.is_claimed(h2));
  CHECK(v.is_retired(h2));
  CHECK(!v.owned_by(h2, 2));     // ...but are owned by nobody
  CHECK_EQ(v.page_of(h2), 0u);    // the route is gone with the registry

  CHECK_EQ(v.owner_of(h3), 4095u);
  CHECK_EQ(v.shard_of(h3), 255u);
  CHECK(v.owned_by(h3, 4095));
  CHECK_EQ(v.page_of(h3), 123456u);

  CHECK_EQ(v.owner_of(hl), 1u);
  CHECK_EQ(v.shard_of(hl), 0u);
  CHECK_EQ(v.page_of(hl), 1u);

  CHECK_EQ(v.owner_of(h4), 0u);  // unclaimed
  CHECK(!v.is_claimed(h4));
  CHECK(!v.is_retired(h4));
  CHECK(!v.owned_by(h4, 0));

  const hr::BlockInfo bi = v.block_info(h2);
  CHECK(bi.claimed && bi.retired && bi.owner == 2 && bi.shard == 15 && bi.page == 0);
  CHECK_EQ(v.block_word(1), Route(1, 0));
  CHECK_EQ(v.block_word(3), Route(4095, 123456));
  CHECK_EQ(v.block_word(2), 0);
  CHECK_EQ(v.block_word(4), 0);
  CHECK_EQ(v.block_word(hr::layout::kMaxBlocks), 0);  // out of range

  CHECK_EQ(v.owner_word(1), 7);
  CHECK_EQ(v.owner_word(2), 9);
  CHECK_EQ(v.owner_word(3), 0);
  CHECK_EQ(v.owner_word(4095), 1);
  CHECK_EQ(v.owner_word(0), 0);
  CHECK_EQ(v.owner_word(4096), 0);
}

TEST(invalid_handles_read_as_unclaimed) {
  std::vector<int32_t> w = MakeTable();
  // Make block 0 look claimed: invalid handles must still not resolve.
  w[d::block_word_index(0)] = Route(1, 1);
  w[d::block_word_index(0) + 1] = Claimed(1, 1);
  const hr::DomainView v(w.data(), w.size());
  const hr::Handle bad[] = {0, 1, 255, uint64_t{1} << 28,
                            hr::kMaxHandle + 1, ~uint64_t{0},
                            (uint64_t{1} << 53) | hr::make_handle(1, 0, 0)};
  for (hr::Handle h : bad) {
    CHECK_EQ(v.owner_of(h), 0u);
    CHECK(!v.is_claimed(h));
    CHECK(!v.owned_by(h, 1));
    CHECK_EQ(v.page_of(h), 0u);
  }
}

TEST(detached_and_short_views) {
  const hr::DomainView none;
  CHECK(!none.attached());
  CHECK(none.check() == hr::Status::kNotAttached);
  CHECK_EQ(none.owner_of(hr::make_handle(1, 0, 0)), 0u);
  CHECK_EQ(none.next_block(), 0);
  CHECK_EQ(none.live_owners(), 0);
  CHECK_EQ(none.owner_word(1), 0);
  CHECK(none.words() == nullptr);

  std::vector<int32_t> w = MakeTable();
  const hr::DomainView short_view(w.data(), d::kDomainWords - 1);
  CHECK(!short_view.attached());
  CHECK(short_view.check() == hr::Status::kNotAttached);
  CHECK_EQ(short_view.owner_of(hr::make_handle(1, 0, 0)), 0u);

  const hr::DomainView null_view(nullptr, d::kDomainWords);
  CHECK(!null_view.attached());
}

TEST(concurrent_claims_publish_page_before_word0) {
  // A writer claims blocks 1..N the way the registry does: word 1 (meta)
  // first, then word 0 (route) with a release store; a reader that sees the
  // route must see the matching meta. TSAN checks the pairing.
  constexpr uint32_t kBlocks = 20000;
  std::vector<int32_t> w = MakeTable();
  for (uint32_t b = 1; b <= kBlocks; ++b) {
    w[d::block_word_index(b)] = 0;
    w[d::block_word_index(b) + 1] = 0;
  }
  const hr::DomainView v(w.data(), w.size());
  std::thread writer([&] {
    for (uint32_t b = 1; b <= kBlocks; ++b) {
      int32_t* p = w.data() + d::block_word_index(b);
      // Meta first (relaxed: readers may look at it alone), then the route with a
      // release store, as the registry and the addon do.
      __atomic_store_n(p + 1, Claimed(b % 4095 + 1, b % 256), __ATOMIC_RELAXED);
      __atomic_store_n(p, Route(b % 4095 + 1, b * 3), __ATOMIC_RELEASE);
      __atomic_store_n(w.data() + d::kNextBlockIndex, static_cast<int32_t>(b + 1),
                       __ATOMIC_RELAXED);
    }
  });
  int errors = 0;
  for (uint32_t b = 1; b <= kBlocks; ++b) {
    const hr::Handle h = hr::make_handle(b, b % 256, 0);
    hr::BlockInfo bi = v.block_info(h);
    while (bi.page == 0) {  // route not published yet (pages here are b * 3 > 0)
      std::this_thread::yield();
      bi = v.block_info(h);
    }
    if (bi.page != b * 3 || bi.owner != b % 4095 + 1 || bi.shard != b % 256 ||
        bi.retired) {
      ++errors;
    }
  }
  writer.join();
  CHECK_EQ(errors, 0);
  CHECK_EQ(v.next_block(), static_cast<int32_t>(kBlocks + 1));
}

int main(int argc, char** argv) { return hr_test::run_all(argc, argv); }
