// layout_dump: prints the C++ layout table (native/include/
// handle_registry_layout.h) and the versions as one JSON object on one line,
// so a JS test can compare it with src/layout.ts. Not a test by itself.
//
//   g++ -std=c++17 -I native/include native/test/layout_dump.cc -o layout_dump && ./layout_dump
//
// Output: {"versionMajor":0,...,"eventBytes":24}. Every value is an integer;
// keys are the C++ constant names without the leading k, in camelCase
// (hr::layout::kGenMax -> "genMax", hr::domain::kBlocksBase -> "blocksBase").
// run.sh also builds it (bin/layout_dump) to keep it compiling.

#include <cstdio>

#include "handle_registry.h"
#include "handle_registry_abi.h"
#include "handle_registry_layout.h"

namespace {

bool first = true;

void field(const char* name, long long value) {
  std::printf("%s\"%s\":%lld", first ? "{" : ",", name, value);
  first = false;
}

}  // namespace

int main() {
  namespace l = hr::layout;
  namespace d = hr::domain;
  field("versionMajor", HANDLE_REGISTRY_VERSION_MAJOR);
  field("versionMinor", HANDLE_REGISTRY_VERSION_MINOR);
  field("versionPatch", HANDLE_REGISTRY_VERSION_PATCH);
  field("abiVersion", HR_ABI_VERSION);
  field("maxHandle", static_cast<long long>(hr::kMaxHandle));
  // handle bits
  field("offsetBits", l::kOffsetBits);
  field("blockBits", l::kBlockBits);
  field("slotBits", l::kSlotBits);
  field("genBits", l::kGenBits);
  field("slotsPerBlock", l::kSlotsPerBlock);
  field("offsetMask", l::kOffsetMask);
  field("maxBlocks", l::kMaxBlocks);
  field("blockMask", l::kBlockMask);
  field("slotMask", l::kSlotMask);
  field("genMax", l::kGenMax);
  // owners, shards, pages, slot states
  field("maxOwners", l::kMaxOwners);
  field("maxRegistryShards", l::kMaxRegistryShards);
  field("pageBits", l::kPageBits);
  field("pageMask", l::kPageMask);
  field("maxPages", l::kMaxPages);
  field("maxStateSlots", l::kMaxStateSlots);
  field("stateLive", l::kStateLive);
  field("stateWeak", l::kStateWeak);
  field("stateGenShift", l::kStateGenShift);
  // domain table
  field("magic", d::kMagic);
  field("layoutVersion", d::kLayoutVersion);
  field("magicIndex", static_cast<long long>(d::kMagicIndex));
  field("layoutVersionIndex", static_cast<long long>(d::kLayoutVersionIndex));
  field("nextBlockIndex", static_cast<long long>(d::kNextBlockIndex));
  field("ownerHintIndex", static_cast<long long>(d::kOwnerHintIndex));
  field("liveOwnersIndex", static_cast<long long>(d::kLiveOwnersIndex));
  field("headerWords", static_cast<long long>(d::kHeaderWords));
  field("ownersBase", static_cast<long long>(d::kOwnersBase));
  field("ownerWords", static_cast<long long>(d::kOwnerWords));
  field("ownerClaimed", d::kOwnerClaimed);
  field("blocksBase", static_cast<long long>(d::kBlocksBase));
  field("wordsPerBlock", static_cast<long long>(d::kWordsPerBlock));
  field("domainWords", static_cast<long long>(d::kDomainWords));
  field("routeWord", static_cast<long long>(d::kRouteWord));
  field("metaWord", static_cast<long long>(d::kMetaWord));
  field("claimed", d::kClaimed);
  field("retired", d::kRetired);
  field("shardShift", d::kShardShift);
  field("shardMask", d::kShardMask);
  field("ownerMask", d::kOwnerMask);
  field("eventBytes", static_cast<long long>(sizeof(hr_event_v1)));
  std::printf("}\n");
  return 0;
}
