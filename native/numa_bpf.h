// Loads, reads and detaches the NUMA event programs (numa_events.bpf.c). Built without libbpf,
// every call reports that eBPF was left out of the build.
#ifndef CRI_REBALANCER_NUMA_BPF_H
#define CRI_REBALANCER_NUMA_BPF_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace numabpf {

constexpr int kCountFields = 8;  // fields of struct numa_event_counts

struct CgroupCounts {
  uint64_t cgroupId;
  uint64_t values[kCountFields];
};

struct LoadResult;

class Programs {
 public:
  ~Programs();
  // Every cgroup's totals since load, summed over CPUs; error is empty when the read worked.
  std::vector<CgroupCounts> read(std::string* error);
  void close();
  const std::vector<std::string>& attached() const { return attached_; }
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  friend LoadResult load(const std::vector<int32_t>& cpuToNode, bool keyByV1MemoryCgroup);
  std::mutex mutex_;
  void* skeleton_ = nullptr;
  std::vector<std::string> attached_;
  std::vector<std::string> skipped_;  // "program: why"
};

struct LoadResult {
  std::shared_ptr<Programs> programs;  // null when loading failed
  std::string reason;                  // why, when it failed
};

bool builtWithBpf();
LoadResult load(const std::vector<int32_t>& cpuToNode, bool keyByV1MemoryCgroup);

}  // namespace numabpf

#endif
