#include "page_migration.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace migration {
namespace {

constexpr int kMoveFlag = 1 << 1;     // MPOL_MF_MOVE: pages mapped only by this process
constexpr int kMoveAllFlag = 1 << 2;  // MPOL_MF_MOVE_ALL: shared pages too (CAP_SYS_NICE)
constexpr unsigned kMaskBits = 1024;  // MAX_NUMNODES on distribution kernels

uint64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

long movePagesCall(int pid, size_t count, void** pages, const int* nodes, int* status, int flags) {
  return syscall(SYS_move_pages, pid, count, pages, nodes, status, flags);
}

}  // namespace

std::string errnoText(int err) { return std::strerror(err); }

std::vector<int32_t> queryPageNodes(int pid, const std::vector<uint64_t>& addresses, int* error) {
  std::vector<void*> pages(addresses.size());
  for (size_t i = 0; i < addresses.size(); ++i) pages[i] = reinterpret_cast<void*>(addresses[i]);
  std::vector<int32_t> status(addresses.size(), 0);
  *error = 0;
  if (!addresses.empty() && movePagesCall(pid, pages.size(), pages.data(), nullptr, status.data(), 0) != 0) {
    *error = errno;
  }
  return status;
}

BatchResult movePagesToNode(int pid, const std::vector<uint64_t>& addresses, int targetNode, bool moveShared) {
  BatchResult result;
  const uint64_t start = nowNs();
  result.before = queryPageNodes(pid, addresses, &result.error);
  result.after = result.before;
  if (result.error != 0) {
    result.elapsedNs = nowNs() - start;
    return result;
  }
  std::vector<size_t> index;
  std::vector<void*> pages;
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (result.before[i] == targetNode) continue;
    index.push_back(i);
    pages.push_back(reinterpret_cast<void*>(addresses[i]));
  }
  if (!pages.empty()) {
    std::vector<int> nodes(pages.size(), targetNode);
    std::vector<int> status(pages.size(), 0);
    const uint64_t moveStart = nowNs();
    // A positive return is the number of pages not migrated; their status says why.
    long rc = movePagesCall(pid, pages.size(), pages.data(), nodes.data(), status.data(),
                            moveShared ? kMoveAllFlag : kMoveFlag);
    result.moveNs = nowNs() - moveStart;
    if (rc < 0) {
      result.error = errno;
    } else {
      for (size_t i = 0; i < index.size(); ++i) result.after[index[i]] = status[i];
    }
  }
  result.elapsedNs = nowNs() - start;
  return result;
}

WholeResult migrateProcessPages(int pid, const std::vector<int>& fromNodes, const std::vector<int>& toNodes) {
  constexpr unsigned kWordBits = 8 * sizeof(unsigned long);
  std::vector<unsigned long> from(kMaskBits / kWordBits, 0), to(kMaskBits / kWordBits, 0);
  WholeResult result;
  for (int node : fromNodes) {
    if (node < 0 || static_cast<unsigned>(node) >= kMaskBits) { result.error = EINVAL; return result; }
    from[node / kWordBits] |= 1ul << (node % kWordBits);
  }
  for (int node : toNodes) {
    if (node < 0 || static_cast<unsigned>(node) >= kMaskBits) { result.error = EINVAL; return result; }
    to[node / kWordBits] |= 1ul << (node % kWordBits);
  }
  const uint64_t start = nowNs();
  // The kernel reads maxnode - 1 bits.
  long rc = syscall(SYS_migrate_pages, pid, kMaskBits + 1, from.data(), to.data());
  result.elapsedNs = nowNs() - start;
  if (rc < 0) result.error = errno;
  else result.notMoved = rc;
  return result;
}

std::string probeMovePages() {
  const long pageBytes = sysconf(_SC_PAGESIZE);
  void* page = mmap(nullptr, pageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
  static_cast<volatile char*>(page)[0] = 1;
  std::string reason;
  int node = -1;
  if (movePagesCall(0, 1, &page, nullptr, &node, 0) != 0) {
    reason = std::string("move_pages (query): ") + std::strerror(errno);
  } else if (node < 0) {
    reason = std::string("move_pages (query) status: ") + std::strerror(-node);
  } else {
    int status = -1;
    if (movePagesCall(0, 1, &page, &node, &status, kMoveFlag) != 0) {
      reason = std::string("move_pages: ") + std::strerror(errno);
    } else if (status != node) {
      reason = std::string("move_pages status: ") + (status < 0 ? std::strerror(-status) : "wrong node");
    }
  }
  munmap(page, pageBytes);
  return reason;
}

}  // namespace migration
