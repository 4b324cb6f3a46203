#include "numa_bpf.h"

#ifdef HAVE_NUMA_BPF

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>

#include <cstdarg>
#include <cstring>

#include "numa_events.h"
#include "numa_events.skel.h"

static_assert(sizeof(numa_event_counts) == numabpf::kCountFields * sizeof(uint64_t),
              "kCountFields must match struct numa_event_counts");

namespace numabpf {
namespace {

// libbpf's diagnostics, kept (not printed) so that a failed load can say why.
std::mutex logMutex;
std::string lastLog;

int keepLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list copy;
  va_copy(copy, args);
  int length = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length <= 0) return 0;
  std::string line(static_cast<size_t>(length) + 1, '\0');
  vsnprintf(line.data(), line.size(), format, args);
  line.pop_back();
  std::lock_guard<std::mutex> lock(logMutex);
  lastLog += line;
  // The verifier's verdict is at the end of its log.
  if (lastLog.size() > 3000) lastLog.erase(0, lastLog.size() - 3000);
  return 0;
}

std::string takeLog() {
  std::lock_guard<std::mutex> lock(logMutex);
  std::string log;
  log.swap(lastLog);
  while (!log.empty() && log.back() == '\n') log.pop_back();
  return log;
}

std::string failure(const std::string& step, int err) {
  std::string reason = step + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES) reason += " (run as root, or with CAP_BPF and CAP_PERFMON)";
  std::string log = takeLog();
  if (!log.empty()) reason += "; libbpf: " + log;
  return reason;
}

// "on_sched_migrate_task" -> "sched_migrate_task"
std::string tracepointOf(const bpf_program* program) {
  std::string section = bpf_program__section_name(program);
  auto slash = section.find('/');
  return slash == std::string::npos ? section : section.substr(slash + 1);
}

}  // namespace

bool builtWithBpf() { return true; }

LoadResult load(const std::vector<int32_t>& cpuToNode, bool keyByV1MemoryCgroup) {
  libbpf_set_print(keepLog);
  takeLog();
  LoadResult result;
  if (cpuToNode.size() > NUMA_EVENTS_MAX_CPUS) {
    result.reason = "cpuToNode has " + std::to_string(cpuToNode.size()) + " CPUs; the program supports " +
                    std::to_string(NUMA_EVENTS_MAX_CPUS);
    return result;
  }
  numa_events_bpf* skel = numa_events_bpf__open();
  if (skel == nullptr) {
    result.reason = failure("opening the BPF object", errno);
    return result;
  }
  auto programs = std::shared_ptr<Programs>(new Programs());
  programs->skeleton_ = skel;
  skel->rodata->key_by_v1_memory_cgroup = keyByV1MemoryCgroup;

  // Tracepoints this kernel lacks (sched_skip_cpuset_numa is recent) are skipped, not fatal.
  btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) {
    result.reason = failure("reading the kernel's BTF (/sys/kernel/btf/vmlinux)", errno);
    return result;
  }
  bpf_program* program;
  bpf_object__for_each_program(program, skel->obj) {
    std::string tracepoint = tracepointOf(program);
    if (btf__find_by_name_kind(vmlinux, ("btf_trace_" + tracepoint).c_str(), BTF_KIND_TYPEDEF) < 0) {
      bpf_program__set_autoload(program, false);
      programs->skipped_.push_back(tracepoint + ": this kernel has no such tracepoint");
    }
  }
  btf__free(vmlinux);

  if (numa_events_bpf__load(skel) != 0) {
    result.reason = failure("loading the BPF programs", errno);
    return result;
  }
  // The map holds node + 1 so that the array's zeroes (CPUs not given) read as "unknown".
  const int cpuNodeFd = bpf_map__fd(skel->maps.cpu_node);
  for (uint32_t cpu = 0; cpu < cpuToNode.size(); ++cpu) {
    int32_t stored = cpuToNode[cpu] < 0 ? 0 : cpuToNode[cpu] + 1;
    if (bpf_map_update_elem(cpuNodeFd, &cpu, &stored, BPF_ANY) != 0) {
      result.reason = failure("filling the CPU-to-node map", errno);
      return result;
    }
  }
  bpf_object__for_each_program(program, skel->obj) {
    if (!bpf_program__autoload(program)) continue;
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      programs->skipped_.push_back(tracepointOf(program) + ": " + failure("attach", errno));
      continue;
    }
    // The skeleton's destroy detaches every link it holds.
    for (int i = 0; i < skel->skeleton->prog_cnt; ++i) {
      if (*skel->skeleton->progs[i].prog == program) *skel->skeleton->progs[i].link = link;
    }
    programs->attached_.push_back(tracepointOf(program));
  }
  if (programs->attached_.empty()) {
    result.reason = "no BPF program could be attached: " + programs->skipped_.front();
    return result;
  }
  result.programs = programs;
  return result;
}

namespace {

CgroupCounts sumOverCpus(uint64_t cgroupId, const numa_event_counts* perCpu, int cpus) {
  CgroupCounts counts{cgroupId, {}};
  for (int cpu = 0; cpu < cpus; ++cpu) {
    const uint64_t* fields = reinterpret_cast<const uint64_t*>(&perCpu[cpu]);
    for (int i = 0; i < kCountFields; ++i) counts.values[i] += fields[i];
  }
  return counts;
}

// Kernels before 5.6 have no batch lookup: one get_next_key and one lookup per entry.
bool readOneByOne(int fd, int cpus, std::vector<CgroupCounts>* out) {
  std::vector<numa_event_counts> perCpu(cpus);
  uint64_t key = 0;
  uint64_t next = 0;
  uint64_t* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    key = next;
    previous = &key;
    if (bpf_map_lookup_elem(fd, &key, perCpu.data()) != 0) continue;  // evicted meanwhile
    out->push_back(sumOverCpus(key, perCpu.data(), cpus));
  }
  return errno == ENOENT;
}

}  // namespace

std::vector<CgroupCounts> Programs::read(std::string* error) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CgroupCounts> out;
  if (skeleton_ == nullptr) {
    *error = "the programs are closed";
    return out;
  }
  auto* skel = static_cast<numa_events_bpf*>(skeleton_);
  const int fd = bpf_map__fd(skel->maps.counts);
  const int cpus = libbpf_num_possible_cpus();
  // One batch lookup returns many entries per syscall; a full hash bucket asks for more room (ENOSPC).
  uint32_t capacity = 256;
  std::vector<uint64_t> keys;
  std::vector<numa_event_counts> values;
  uint64_t inToken = 0;
  uint64_t outToken = 0;
  bool first = true;
  for (;;) {
    keys.resize(capacity);
    values.resize(static_cast<size_t>(capacity) * cpus);
    uint32_t count = capacity;
    int rc = bpf_map_lookup_batch(fd, first ? nullptr : &inToken, &outToken, keys.data(), values.data(), &count, nullptr);
    int err = rc != 0 ? errno : 0;
    if (rc != 0 && err == ENOSPC && count == 0) {
      capacity *= 2;
      continue;
    }
    if (rc != 0 && err != ENOENT) {
      if (first && (err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP)) {
        if (!readOneByOne(fd, cpus, &out)) *error = std::string("reading the counts map: ") + std::strerror(errno);
      } else {
        *error = std::string("reading the counts map: ") + std::strerror(err);
      }
      return out;
    }
    for (uint32_t i = 0; i < count; ++i) out.push_back(sumOverCpus(keys[i], &values[static_cast<size_t>(i) * cpus], cpus));
    if (rc != 0) return out;  // ENOENT: that was the last batch
    inToken = outToken;
    first = false;
  }
}

void Programs::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (skeleton_ != nullptr) numa_events_bpf__destroy(static_cast<numa_events_bpf*>(skeleton_));
  skeleton_ = nullptr;
}

Programs::~Programs() { close(); }

}  // namespace numabpf

#else  // built without libbpf

namespace numabpf {

bool builtWithBpf() { return false; }

LoadResult load(const std::vector<int32_t>&, bool) {
  return {nullptr,
          "the addon was built without eBPF (libbpf-dev, clang or bpftool was missing at build time); install them "
          "and run npm rebuild"};
}

std::vector<CgroupCounts> Programs::read(std::string* error) {
  *error = "eBPF was left out of this build";
  return {};
}
void Programs::close() {}
Programs::~Programs() = default;

}  // namespace numabpf

#endif
