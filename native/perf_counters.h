// perf_event_open counter groups: one group per CPU (cgroup mode) or one per task, every event of
// the group read by one read(2), deltas since the last read scaled for multiplexing.
#ifndef CRI_REBALANCER_PERF_COUNTERS_H
#define CRI_REBALANCER_PERF_COUNTERS_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace perf {

struct EventSpec {
  std::string name;  // for error messages
  uint32_t type;
  uint64_t config;
  uint64_t config1;
};

struct Target {
  std::string cgroupPath;  // a cgroup2 directory, or empty
  int pid = -1;            // a task when cgroupPath is empty
  std::vector<int> cpus;   // cgroup mode: one group per CPU (required); task mode: empty = any CPU
};

struct Reading {
  std::vector<double> values;  // per event: scaled delta, summed over CPUs
  uint64_t enabledNs = 0;      // summed over CPUs
  uint64_t runningNs = 0;
  std::string error;           // empty when the read worked
};

class OpenError {
 public:
  OpenError(std::string message, std::string code) : message(std::move(message)), code(std::move(code)) {}
  std::string message;
  std::string code;
};

class CounterSet {
 public:
  // Throws OpenError (with the errno's name as code, or EBUDGET) when any descriptor fails.
  CounterSet(const Target& target, const std::vector<EventSpec>& events);
  ~CounterSet();
  Reading readDelta();
  void close();
  size_t fdCount() const { return fds_.size(); }

 private:
  std::mutex mutex_;
  size_t eventCount_;
  std::vector<int> fds_;       // leaders first in each group: fds_[group * eventCount_ + event]
  std::vector<uint64_t> lastValues_;
  std::vector<uint64_t> lastEnabled_;
  std::vector<uint64_t> lastRunning_;
};

// The process-wide limit on open perf descriptors.
void setFdBudget(size_t budget);
size_t fdBudget();
size_t fdsOpen();

// Opens and closes one counter to learn whether an event exists: "" when it does, else the errno
// name (ENOENT: no such event or no PMU; EACCES/EPERM: not allowed; ...).
std::string probeEvent(const EventSpec& event, const std::string& cgroupPath, int cpu);

}  // namespace perf

#endif
