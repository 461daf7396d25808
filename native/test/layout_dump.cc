// layout_dump: prints the header's layout constants as one JSON object, so a
// JS test can compare them with src/layout.ts (docs/design.md says they must
// match). Built by run.sh into bin/layout_dump; not a test by itself.

#include <cstdio>

#include "handle_registry.h"

int main() {
  namespace d = hr::domain;
  std::printf(
      "{\"versionMajor\":%d,\"versionMinor\":%d,\"versionPatch\":%d,"
      "\"abiVersion\":%d,"
      "\"slotBits\":%u,\"offsetBits\":%u,\"blockBits\":%u,\"genBits\":%u,"
      "\"genMax\":%u,\"slotsPerBlock\":%u,\"maxBlocks\":%u,\"maxOwners\":%u,"
      "\"maxRegistryShards\":%u,\"maxHandle\":%llu,"
      "\"magic\":%d,\"layoutVersion\":%d,\"magicIndex\":%zu,"
      "\"layoutVersionIndex\":%zu,\"nextBlockIndex\":%zu,\"ownerHintIndex\":%zu,"
      "\"liveOwnersIndex\":%zu,\"headerWords\":%zu,\"ownersBase\":%zu,"
      "\"ownerWords\":%zu,\"blocksBase\":%zu,\"wordsPerBlock\":%zu,"
      "\"domainWords\":%zu,\"claimed\":%d,\"retired\":%d,\"shardShift\":%u,"
      "\"shardMask\":%u,\"ownerMask\":%u,\"eventBytes\":%zu}\n",
      HANDLE_REGISTRY_VERSION_MAJOR, HANDLE_REGISTRY_VERSION_MINOR,
      HANDLE_REGISTRY_VERSION_PATCH, HANDLE_REGISTRY_ABI_VERSION, hr::kSlotBits,
      hr::kOffsetBits, hr::kBlockBits, hr::kGenBits, hr::kGenMax,
      hr::kSlotsPerBlock, hr::kMaxBlocks, hr::kMaxOwners, hr::kMaxRegistryShards,
      static_cast<unsigned long long>(hr::kMaxHandle), d::kMagic,
      d::kLayoutVersion, d::kMagicIndex, d::kLayoutVersionIndex,
      d::kNextBlockIndex, d::kOwnerHintIndex, d::kLiveOwnersIndex,
      d::kHeaderWords, d::kOwnersBase, d::kOwnerWords, d::kBlocksBase,
      d::kWordsPerBlock, d::kDomainWords, d::kClaimed, d::kRetired,
      d::kShardShift, d::kShardMask, d::kOwnerMask, sizeof(hr::Event));
  return 0;
}
