// The addon's JavaScript surface: argument checks and async work only. The mechanisms live in
// perf_counters.cc, numa_bpf.cc, page_migration.cc, durable_file.cc and file_lock.cc; src/monitor/addon.ts types this surface.
#include <napi.h>
#include <unistd.h>

#include <functional>
#include <thread>
#include <memory>
#include <utility>

#include "durable_file.h"
#include "file_lock.h"
#include "errno_name.h"
#include "numa_bpf.h"
#include "page_migration.h"
#include "perf_counters.h"

namespace {

// Runs `work` on the libuv thread pool and settles a promise with `convert`'s value.
template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  static Napi::Promise Start(Napi::Env env, Work work, Convert convert) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(convert));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override { result_ = work_(); }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(convert_(Env(), result_));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  PromiseWorker(Napi::Env env, Work work, Convert convert)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        convert_(std::move(convert)) {}
  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  Result result_{};
};

Napi::Error errorWithCode(Napi::Env env, const std::string& message, const std::string& code) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void require(bool condition, Napi::Env env, const char* message) {
  if (!condition) throw Napi::TypeError::New(env, message);
}

std::vector<int> intArray(Napi::Env env, Napi::Value value, const char* message) {
  require(value.IsArray(), env, message);
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    require(item.IsNumber(), env, message);
    out.push_back(item.As<Napi::Number>().Int32Value());
  }
  return out;
}

std::vector<uint64_t> addressArray(Napi::Env env, Napi::Value value) {
  require(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_biguint64_array, env,
          "addresses must be a BigUint64Array");
  Napi::BigUint64Array array = value.As<Napi::BigUint64Array>();
  return std::vector<uint64_t>(array.Data(), array.Data() + array.ElementLength());
}

Napi::Int32Array toInt32Array(Napi::Env env, const std::vector<int32_t>& values) {
  Napi::Int32Array array = Napi::Int32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

int pidArgument(const Napi::CallbackInfo& info, size_t index) {
  require(info.Length() > index && info[index].IsNumber(), info.Env(), "pid must be a number");
  int pid = info[index].As<Napi::Number>().Int32Value();
  require(pid >= 0, info.Env(), "pid must be >= 0");
  return pid;
}

// ---- perf counters ----

class CounterGroup : public Napi::ObjectWrap<CounterGroup> {
 public:
  static Napi::FunctionReference constructor;
  static void Define(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "CounterGroup", {InstanceMethod("close", &CounterGroup::Close),
                                                            InstanceAccessor("fdCount", &CounterGroup::FdCount, nullptr)});
    constructor = Napi::Persistent(ctor);
    exports.Set("CounterGroup", ctor);
  }
  explicit CounterGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CounterGroup>(info) {}
  std::shared_ptr<perf::CounterSet> set;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (set) set->close();
    return info.Env().Undefined();
  }
  Napi::Value FdCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), set ? static_cast<double>(set->fdCount()) : 0);
  }
};
Napi::FunctionReference CounterGroup::constructor;

perf::EventSpec eventSpec(Napi::Env env, Napi::Value value) {
  require(value.IsObject(), env, "each event must be {name, type, config, config1?}");
  Napi::Object event = value.As<Napi::Object>();
  require(event.Get("name").IsString() && event.Get("type").IsNumber() && event.Get("config").IsBigInt(), env,
          "each event must be {name: string, type: number, config: bigint, config1?: bigint}");
  bool lossless = true;
  perf::EventSpec spec{event.Get("name").As<Napi::String>(), event.Get("type").As<Napi::Number>().Uint32Value(),
                       event.Get("config").As<Napi::BigInt>().Uint64Value(&lossless), 0};
  if (event.Get("config1").IsBigInt()) spec.config1 = event.Get("config1").As<Napi::BigInt>().Uint64Value(&lossless);
  return spec;
}

Napi::Value OpenCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() == 1 && info[0].IsObject(), env, "openCounters takes {cgroupPath | pid, events, cpus?}");
  Napi::Object options = info[0].As<Napi::Object>();
  perf::Target target;
  if (options.Get("cgroupPath").IsString()) {
    target.cgroupPath = options.Get("cgroupPath").As<Napi::String>();
    target.cpus = intArray(env, options.Get("cpus"), "cgroup counters need cpus: number[] (one group per CPU)");
    require(!target.cpus.empty(), env, "cgroup counters need at least one CPU");
  } else {
    require(options.Get("pid").IsNumber(), env, "openCounters needs cgroupPath or pid");
    target.pid = options.Get("pid").As<Napi::Number>().Int32Value();
    require(target.pid >= 0, env, "pid must be >= 0");
  }
  require(options.Get("events").IsArray(), env, "events must be an array");
  Napi::Array events = options.Get("events").As<Napi::Array>();
  require(events.Length() > 0, env, "events must not be empty");
  std::vector<perf::EventSpec> specs;
  for (uint32_t i = 0; i < events.Length(); ++i) specs.push_back(eventSpec(env, events.Get(i)));
  Napi::Object handle = CounterGroup::constructor.New({});
  try {
    CounterGroup::Unwrap(handle)->set = std::make_shared<perf::CounterSet>(target, specs);
  } catch (const perf::OpenError& error) {
    throw errorWithCode(env, error.message, error.code);
  }
  return handle;
}

std::shared_ptr<perf::CounterSet> counterSetOf(Napi::Env env, Napi::Value value) {
  require(value.IsObject() && value.As<Napi::Object>().InstanceOf(CounterGroup::constructor.Value()), env,
          "expected a CounterGroup from openCounters");
  auto set = CounterGroup::Unwrap(value.As<Napi::Object>())->set;
  require(set != nullptr, env, "expected an open CounterGroup");
  return set;
}

// One worker call reads every group of the tick: one read(2) per group and CPU.
Napi::Value ReadCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() == 1 && info[0].IsArray(), env, "readCounters takes CounterGroup[]");
  Napi::Array groups = info[0].As<Napi::Array>();
  std::vector<std::shared_ptr<perf::CounterSet>> sets;
  for (uint32_t i = 0; i < groups.Length(); ++i) sets.push_back(counterSetOf(env, groups.Get(i)));
  using Readings = std::vector<perf::Reading>;
  return PromiseWorker<Readings>::Start(
      env,
      [sets]() {
        Readings readings;
        readings.reserve(sets.size());
        for (const auto& set : sets) readings.push_back(set->readDelta());
        return readings;
      },
      [](Napi::Env env, Readings& readings) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, readings.size());
        for (size_t i = 0; i < readings.size(); ++i) {
          const perf::Reading& reading = readings[i];
          Napi::Object item = Napi::Object::New(env);
          Napi::Float64Array values = Napi::Float64Array::New(env, reading.values.size());
          std::copy(reading.values.begin(), reading.values.end(), values.Data());
          item.Set("values", values);
          item.Set("enabledNs", Napi::Number::New(env, static_cast<double>(reading.enabledNs)));
          item.Set("runningNs", Napi::Number::New(env, static_cast<double>(reading.runningNs)));
          if (!reading.error.empty()) item.Set("error", Napi::String::New(env, reading.error));
          out.Set(static_cast<uint32_t>(i), item);
        }
        return out;
      });
}

Napi::Value SetPerfFdBudget(const Napi::CallbackInfo& info) {
  require(info.Length() == 1 && info[0].IsNumber() && info[0].As<Napi::Number>().Int64Value() > 0, info.Env(),
          "setPerfFdBudget takes a positive number");
  perf::setFdBudget(static_cast<size_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Value PerfFdUsage(const Napi::CallbackInfo& info) {
  Napi::Object usage = Napi::Object::New(info.Env());
  usage.Set("open", Napi::Number::New(info.Env(), static_cast<double>(perf::fdsOpen())));
  usage.Set("budget", Napi::Number::New(info.Env(), static_cast<double>(perf::fdBudget())));
  return usage;
}

// probePerfEvent(event, cgroupPath?, cpu?) -> "" when the event opens, else the errno's name.
Napi::Value ProbePerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() >= 1, env, "probePerfEvent takes (event, cgroupPath?, cpu?)");
  perf::EventSpec spec = eventSpec(env, info[0]);
  std::string cgroupPath = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  int cpu = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  return Napi::String::New(env, perf::probeEvent(spec, cgroupPath, cpu));
}

// ---- eBPF ----

class NumaPrograms : public Napi::ObjectWrap<NumaPrograms> {
 public:
  static Napi::FunctionReference constructor;
  static void Define(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "NumaPrograms", {InstanceMethod("read", &NumaPrograms::Read),
                                                            InstanceMethod("close", &NumaPrograms::Close),
                                                            InstanceAccessor("attached", &NumaPrograms::Attached, nullptr),
                                                            InstanceAccessor("skipped", &NumaPrograms::Skipped, nullptr)});
    constructor = Napi::Persistent(ctor);
    exports.Set("NumaPrograms", ctor);
  }
  explicit NumaPrograms(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NumaPrograms>(info) {}
  std::shared_ptr<numabpf::Programs> programs;

 private:
  static Napi::Array strings(Napi::Env env, const std::vector<std::string>& values) {
    Napi::Array out = Napi::Array::New(env, values.size());
    for (size_t i = 0; i < values.size(); ++i) out.Set(static_cast<uint32_t>(i), values[i]);
    return out;
  }
  Napi::Value Attached(const Napi::CallbackInfo& info) { return strings(info.Env(), programs->attached()); }
  Napi::Value Skipped(const Napi::CallbackInfo& info) { return strings(info.Env(), programs->skipped()); }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    programs->close();
    return info.Env().Undefined();
  }
  // -> {cgroupIds: BigUint64Array, counts: BigUint64Array (kCountFields per cgroup)}
  Napi::Value Read(const Napi::CallbackInfo& info) {
    struct Batch {
      std::vector<numabpf::CgroupCounts> counts;
      std::string error;
    };
    auto programs = this->programs;
    return PromiseWorker<Batch>::Start(
        info.Env(),
        [programs]() {
          Batch batch;
          batch.counts = programs->read(&batch.error);
          return batch;
        },
        [](Napi::Env env, Batch& batch) -> Napi::Value {
          if (!batch.error.empty()) throw Napi::Error::New(env, batch.error);
          const size_t n = batch.counts.size();
          Napi::BigUint64Array ids = Napi::BigUint64Array::New(env, n);
          Napi::BigUint64Array counts = Napi::BigUint64Array::New(env, n * numabpf::kCountFields);
          for (size_t i = 0; i < n; ++i) {
            ids[i] = batch.counts[i].cgroupId;
            std::copy(batch.counts[i].values, batch.counts[i].values + numabpf::kCountFields,
                      counts.Data() + i * numabpf::kCountFields);
          }
          Napi::Object out = Napi::Object::New(env);
          out.Set("cgroupIds", ids);
          out.Set("counts", counts);
          return out;
        });
  }
};
Napi::FunctionReference NumaPrograms::constructor;

// loadNumaPrograms(cpuToNode: number[], keyByV1MemoryCgroup: boolean) -> {programs} | {reason}
Napi::Value LoadNumaPrograms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() == 2 && info[1].IsBoolean(), env, "loadNumaPrograms takes (cpuToNode: number[], keyByV1MemoryCgroup: boolean)");
  std::vector<int> nodes = intArray(env, info[0], "cpuToNode must be number[]");
  std::vector<int32_t> cpuToNode(nodes.begin(), nodes.end());
  bool keyByV1 = info[1].As<Napi::Boolean>();
  return PromiseWorker<numabpf::LoadResult>::Start(
      env, [cpuToNode, keyByV1]() { return numabpf::load(cpuToNode, keyByV1); },
      [](Napi::Env env, numabpf::LoadResult& result) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        if (result.programs == nullptr) {
          out.Set("reason", result.reason);
          return out;
        }
        Napi::Object handle = NumaPrograms::constructor.New({});
        NumaPrograms::Unwrap(handle)->programs = result.programs;
        out.Set("programs", handle);
        return out;
      });
}

// ---- page migration ----

Napi::Object errnoFields(Napi::Env env, Napi::Object out, int error) {
  if (error != 0) {
    out.Set("errno", Napi::Number::New(env, error));
    out.Set("error", Napi::String::New(env, migration::errnoText(error)));
  }
  return out;
}

Napi::Object progressObject(Napi::Env env, const migration::PacedProgress& progress) {
  Napi::Object out = Napi::Object::New(env);
  auto set = [&](const char* name, uint64_t value) { out.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  set("pagesSeen", progress.pagesSeen);
  set("pagesMoved", progress.pagesMoved);
  set("pagesAlreadyThere", progress.pagesAlreadyThere);
  set("pagesRetried", progress.pagesRetried);
  set("calls", progress.calls);
  set("maxCallNs", progress.maxCallNs);
  set("elapsedNs", progress.elapsedNs);
  set("listNs", progress.listNs);
  set("queryNs", progress.queryNs);
  set("moveNs", progress.moveNs);
  set("pacingNs", progress.pacingNs);
  return out;
}

Napi::Value pacedResultObject(Napi::Env env, const migration::PacedResult& result) {
  Napi::Object out = progressObject(env, result.progress);
  Napi::Object failed = Napi::Object::New(env);
  for (const auto& [error, pages] : result.failedByErrno) failed.Set(std::to_string(error), static_cast<double>(pages));
  out.Set("failedByErrno", failed);
  out.Set("cancelled", Napi::Boolean::New(env, result.cancelled));
  Napi::Uint32Array callPages = Napi::Uint32Array::New(env, result.callPages.size());
  std::copy(result.callPages.begin(), result.callPages.end(), callPages.Data());
  auto float64Array = [&](const std::vector<uint64_t>& values) {
    Napi::Float64Array array = Napi::Float64Array::New(env, values.size());
    std::copy(values.begin(), values.end(), array.Data());
    return array;
  };
  Napi::Int32Array callCpu = Napi::Int32Array::New(env, result.callCpu.size());
  std::copy(result.callCpu.begin(), result.callCpu.end(), callCpu.Data());
  out.Set("callPages", callPages);
  out.Set("callStartNs", float64Array(result.callStartNs));
  out.Set("callNs", float64Array(result.callNs));
  out.Set("callCpuNs", float64Array(result.callCpuNs));
  out.Set("callCpu", callCpu);
  return errnoFields(env, out, result.error);
}

// A paced move's thread and what the main thread needs to settle its promise.
struct PacedJob {
  std::vector<uint64_t> ranges;
  migration::PacedOptions options;
  migration::Cancellation cancellation;
  migration::PacedResult result;
};

// movePagesPaced(pid, ranges: BigUint64Array of start, end pairs, targetNode, options, onProgress?) ->
//   {promise: Promise<result>, cancel(): void}. The whole move runs on its own thread (not the
// libuv pool, which a long capped move would hold); progress and the result come back through a
// thread-safe function in order: a report after every call, then the result.
Napi::Value MovePagesPaced(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() >= 4 && info[2].IsNumber() && info[3].IsObject() && (info.Length() < 5 || info[4].IsFunction() || info[4].IsUndefined()),
          env, "movePagesPaced takes (pid, ranges: BigUint64Array, targetNode, options, onProgress?)");
  auto job = std::make_shared<PacedJob>();
  job->options.pid = pidArgument(info, 0);
  job->ranges = addressArray(env, info[1]);
  require(job->ranges.size() % 2 == 0, env, "ranges are start, end pairs");
  job->options.targetNode = info[2].As<Napi::Number>().Int32Value();
  Napi::Object options = info[3].As<Napi::Object>();
  auto number = [&](const char* name) {
    Napi::Value value = options.Get(name);
    require(value.IsNumber(), env, "options are {moveShared, budgetNs, maxBytesPerSec, maxRetries, retryDelayNs, pageBytes, movers, recordCalls}");
    return value.As<Napi::Number>().DoubleValue();
  };
  job->options.moveShared = options.Get("moveShared").ToBoolean();
  job->options.recordCalls = options.Get("recordCalls").ToBoolean();
  job->options.budgetNs = static_cast<uint64_t>(number("budgetNs"));
  job->options.maxBytesPerSec = number("maxBytesPerSec");
  job->options.maxRetries = static_cast<int>(number("maxRetries"));
  job->options.retryDelayNs = static_cast<uint64_t>(number("retryDelayNs"));
  job->options.pageBytes = static_cast<uint64_t>(number("pageBytes"));
  job->options.movers = static_cast<int>(number("movers"));
  require(job->options.movers >= 1, env, "movers must be >= 1");
  require(job->options.budgetNs > 0, env, "budgetNs must be > 0");

  auto deferred = std::make_shared<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
  // Without a listener no report crosses threads: under emulation each one wakes a vCPU.
  const bool reportProgress = info.Length() >= 5 && info[4].IsFunction();
  Napi::Function onProgress = reportProgress
                                  ? info[4].As<Napi::Function>()
                                  : Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return info.Env().Undefined(); });
  Napi::ThreadSafeFunction channel = Napi::ThreadSafeFunction::New(env, onProgress, "movePagesPaced", 0, 1);
  std::thread([job, deferred, channel, reportProgress]() mutable {
    job->result = migration::movePagesPaced(job->ranges, job->options, job->cancellation,
                                            [&](const migration::PacedProgress& progress) {
                                              if (!reportProgress) return;
                                              auto* copy = new migration::PacedProgress(progress);
                                              channel.NonBlockingCall(copy, [](Napi::Env env, Napi::Function callback, migration::PacedProgress* data) {
                                                std::unique_ptr<migration::PacedProgress> owned(data);
                                                callback.Call({progressObject(env, *owned)});
                                              });
                                            });
    channel.BlockingCall([job, deferred](Napi::Env env, Napi::Function) {
      Napi::HandleScope scope(env);
      deferred->Resolve(pacedResultObject(env, job->result));
    });
    channel.Release();
  }).detach();

  Napi::Object out = Napi::Object::New(env);
  out.Set("promise", deferred->Promise());
  out.Set("cancel", Napi::Function::New(env, [job](const Napi::CallbackInfo& info) {
            job->cancellation.cancel();
            return info.Env().Undefined();
          }));
  return out;
}

// queryPageNodes(pid, addresses) -> {nodes: Int32Array, errno?, error?}
Napi::Value QueryPageNodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = pidArgument(info, 0);
  require(info.Length() == 2, env, "queryPageNodes takes (pid, addresses: BigUint64Array)");
  std::vector<uint64_t> addresses = addressArray(env, info[1]);
  struct Query {
    std::vector<int32_t> nodes;
    int error = 0;
  };
  return PromiseWorker<Query>::Start(
      env,
      [=]() {
        Query query;
        query.nodes = migration::queryPageNodes(pid, addresses, &query.error);
        return query;
      },
      [](Napi::Env env, Query& query) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("nodes", toInt32Array(env, query.nodes));
        return errnoFields(env, out, query.error);
      });
}

// migratePages(pid, fromNodes, toNodes) -> {notMoved, elapsedNs, errno?, error?}
Napi::Value MigratePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() == 3, env, "migratePages takes (pid, fromNodes: number[], toNodes: number[])");
  int pid = pidArgument(info, 0);
  std::vector<int> from = intArray(env, info[1], "fromNodes must be number[]");
  std::vector<int> to = intArray(env, info[2], "toNodes must be number[]");
  return PromiseWorker<migration::WholeResult>::Start(
      env, [=]() { return migration::migrateProcessPages(pid, from, to); },
      [](Napi::Env env, migration::WholeResult& result) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("notMoved", Napi::Number::New(env, static_cast<double>(result.notMoved)));
        out.Set("elapsedNs", Napi::Number::New(env, static_cast<double>(result.elapsedNs)));
        return errnoFields(env, out, result.error);
      });
}

Napi::Value ProbeMovePages(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), migration::probeMovePages());
}

// An empty worker round trip: the benchmark's baseline for the cost of going off the event loop.
Napi::Value EmptyRoundTrip(const Napi::CallbackInfo& info) {
  return PromiseWorker<int>::Start(
      info.Env(), []() { return 0; }, [](Napi::Env env, int&) -> Napi::Value { return env.Undefined(); });
}

// ---- durable file, file lock ----

// The error of a failed file step, as node:fs makes them: `code` (the errno's name), `errno`,
// `syscall` (the step).
Napi::Error fileStepError(Napi::Env env, const std::string& step, const std::string& target, int error) {
  Napi::Error result = errorWithCode(env, step + " " + target + ": " + migration::errnoText(error), errnoName(error));
  result.Set("errno", Napi::Number::New(env, error));
  result.Set("syscall", Napi::String::New(env, step));
  return result;
}

// replaceFileDurably(path, sparePath, bytes: Buffer, mode) -> Promise<void>; the error has the
// errno name as `code` and the failed step as `syscall`, as node:fs errors do.
Napi::Value ReplaceFileDurably(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() >= 4 && info[0].IsString() && info[1].IsString() && info[2].IsBuffer() && info[3].IsNumber(), env,
          "replaceFileDurably(path, sparePath, bytes: Buffer, mode)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string sparePath = info[1].As<Napi::String>().Utf8Value();
  auto buffer = info[2].As<Napi::Buffer<char>>();
  std::string bytes(buffer.Data(), buffer.Length());
  const unsigned mode = info[3].As<Napi::Number>().Uint32Value();
  return PromiseWorker<durable::ReplaceResult>::Start(
      env, [path, sparePath, bytes = std::move(bytes), mode]() mutable { return durable::replaceFile(path, sparePath, std::move(bytes), mode); },
      [path, sparePath](Napi::Env env, durable::ReplaceResult& result) -> Napi::Value {
        if (result.error == 0) return env.Undefined();
        throw fileStepError(env, result.step, result.step == "rename" ? sparePath + " to " + path : sparePath, result.error);
      });
}

// lockFileExclusive(path) -> fd: the lock is held until unlockFile(fd) or the process ends. The
// error has `code` and `syscall` as node:fs errors do, and `holder` (the holder's pid) when
// another process has it (code EAGAIN).
Napi::Value LockFileExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require(info.Length() >= 1 && info[0].IsString(), env, "lockFileExclusive(path)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const filelock::LockResult result = filelock::lockExclusive(path);
  if (result.fd >= 0) return Napi::Number::New(env, result.fd);
  Napi::Error error = fileStepError(env, result.step, path, result.error);
  if (!result.holder.empty()) error.Set("holder", Napi::String::New(env, result.holder));
  throw error;
}

Napi::Value UnlockFile(const Napi::CallbackInfo& info) {
  require(info.Length() >= 1 && info[0].IsNumber(), info.Env(), "unlockFile(fd)");
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  CounterGroup::Define(env, exports);
  NumaPrograms::Define(env, exports);
  exports.Set("openCounters", Napi::Function::New(env, OpenCounters));
  exports.Set("readCounters", Napi::Function::New(env, ReadCounters));
  exports.Set("setPerfFdBudget", Napi::Function::New(env, SetPerfFdBudget));
  exports.Set("perfFdUsage", Napi::Function::New(env, PerfFdUsage));
  exports.Set("probePerfEvent", Napi::Function::New(env, ProbePerfEvent));
  exports.Set("bpfBuilt", Napi::Boolean::New(env, numabpf::builtWithBpf()));
  exports.Set("loadNumaPrograms", Napi::Function::New(env, LoadNumaPrograms));
  exports.Set("movePagesPaced", Napi::Function::New(env, MovePagesPaced));
  exports.Set("queryPageNodes", Napi::Function::New(env, QueryPageNodes));
  exports.Set("migratePages", Napi::Function::New(env, MigratePages));
  exports.Set("probeMovePages", Napi::Function::New(env, ProbeMovePages));
  exports.Set("replaceFileDurably", Napi::Function::New(env, ReplaceFileDurably));
  exports.Set("lockFileExclusive", Napi::Function::New(env, LockFileExclusive));
  exports.Set("unlockFile", Napi::Function::New(env, UnlockFile));
  exports.Set("emptyRoundTrip", Napi::Function::New(env, EmptyRoundTrip));
  exports.Set("pageSizeBytes", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  return exports;
}

}  // namespace

NODE_API_MODULE(cri_rebalancer, Init)
