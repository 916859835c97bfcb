// Throughput of the -json UI parser on a large recorded-like stream.
//
// The stream is generated here with the exact line shapes of tofu v1.12.6
// (reference §1.4-§1.6, fixtures/tofu): hooks with nested resource objects,
// planned changes, warnings with ranges and snippets, outputs with nested
// values, plus the occasional non-JSON line. A big apply of many resources
// looks like this; ~32 MiB is far more than one run prints, which is the
// point: the parser must never be the bottleneck of reading a child's pipe.
//
//   build-tofu/ui_stream_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "tofu/ui_stream.h"

namespace {

using provisioner::tofu::ParseUiLine;
using provisioner::tofu::UiEvent;
using provisioner::tofu::UiStreamParser;

std::string Resource(const std::string& addr, const std::string& module, const std::string& type,
                     const std::string& name, int key) {
  std::string rel = addr.substr(module.empty() ? 0 : module.size() + 1);
  return R"({"addr":")" + addr + R"(","module":")" + module + R"(","resource":")" + rel +
         R"(","implied_provider":"aws","resource_type":")" + type + R"(","resource_name":")" +
         name + R"(","resource_key":)" + std::to_string(key) + "}";
}

std::string Ts(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "2026-11-23T11:%02d:%02d.%06dZ", (i / 60000) % 60,
                (i / 1000) % 60, (i * 37) % 1000000);
  return buf;
}

// One resource's worth of apply output: planned_change, apply_start, three
// heartbeats, apply_complete.
void AppendResource(std::string* out, int i) {
  std::string module = "module.net" + std::to_string(i % 7);
  std::string type = i % 3 == 0 ? "aws_instance" : i % 3 == 1 ? "aws_subnet" : "aws_route";
  std::string addr = module + "." + type + ".web[" + std::to_string(i) + "]";
  std::string res = Resource(addr, module, type, "web", i);
  std::string id = "i-0" + std::to_string(1000000000 + i * 7919) + "abcdef";
  *out += R"({"@level":"info","@message":")" + addr +
          R"(: Plan to create","@module":"tofu.ui","@timestamp":")" + Ts(i) +
          R"(","change":{"resource":)" + res +
          R"(,"action":"create"},"type":"planned_change"})"
          "\n";
  *out += R"({"@level":"info","@message":")" + addr +
          R"(: Creating...","@module":"tofu.ui","@timestamp":")" + Ts(i + 1) +
          R"(","hook":{"resource":)" + res +
          R"(,"action":"create"},"type":"apply_start"})"
          "\n";
  for (int s = 10; s <= 30; s += 10) {
    *out += R"({"@level":"info","@message":")" + addr + ": Still creating... [" +
            std::to_string(s) + R"(s elapsed]","@module":"tofu.ui","@timestamp":")" + Ts(i + s) +
            R"(","hook":{"resource":)" + res + R"(,"action":"create","elapsed_seconds":)" +
            std::to_string(s) +
            R"(},"type":"apply_progress"})"
            "\n";
  }
  *out += R"({"@level":"info","@message":")" + addr + ": Creation complete after 34s [id=" + id +
          R"(]","@module":"tofu.ui","@timestamp":")" + Ts(i + 34) + R"(","hook":{"resource":)" +
          res + R"(,"action":"create","id_key":"id","id_value":")" + id +
          R"(","elapsed_seconds":34},"type":"apply_complete"})"
          "\n";
}

void AppendWarning(std::string* out, int i) {
  *out +=
      R"({"@level":"warn","@message":"Warning: Argument is deprecated","@module":"tofu.ui","@timestamp":")" +
      Ts(i) +
      R"(","diagnostic":{"severity":"warning","summary":"Argument is deprecated","detail":"Use the aws_s3_bucket_versioning resource instead.","address":"module.store.aws_s3_bucket.logs","range":{"filename":"modules/store/main.tf","start":{"line":12,"column":3,"byte":301},"end":{"line":12,"column":13,"byte":311}},"snippet":{"context":"resource \"aws_s3_bucket\" \"logs\"","code":"  versioning {","start_line":12,"highlight_start_offset":2,"highlight_end_offset":12,"values":[]}},"type":"diagnostic"})"
      "\n";
}

void AppendOutputs(std::string* out, int i) {
  *out +=
      R"({"@level":"info","@message":"Outputs: 3","@module":"tofu.ui","@timestamp":")" + Ts(i) +
      R"(","outputs":{"endpoints":{"sensitive":false,"type":["list",["object",{"host":"string","port":"number"}]],"value":[{"host":"a.example.com","port":443},{"host":"b.example.com","port":8443}]},"password":{"sensitive":true,"type":"string"},"vpc_id":{"sensitive":false,"type":"string","value":"vpc-0a1b2c3d4e5f"}},"type":"outputs"})"
      "\n";
}

const std::string& Stream() {
  static const std::string stream = [] {
    std::string s =
        R"({"@level":"info","@message":"OpenTofu 1.12.6","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:23.275359Z","tofu":"1.12.6","type":"version","ui":"1.2"})"
        "\n";
    for (int i = 0; s.size() < (size_t{32} << 20); ++i) {
      AppendResource(&s, i);
      if (i % 50 == 0) AppendWarning(&s, i);
      if (i % 200 == 0) AppendOutputs(&s, i);
      if (i % 500 == 0) s += "2026-11-23T11:34:23.275Z [WARN]  provider junk that is not JSON\n";
    }
    s +=
        R"({"@level":"info","@message":"Apply complete! Resources: 9999 added, 0 changed, 0 destroyed.","@module":"tofu.ui","@timestamp":"2026-11-23T12:00:00.000000Z","changes":{"add":9999,"change":0,"import":0,"remove":0,"forget":0,"operation":"apply"},"type":"change_summary"})"
        "\n";
    return s;
  }();
  return stream;
}

std::vector<std::string_view> Lines() {
  std::vector<std::string_view> lines;
  std::string_view rest = Stream();
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }
  return lines;
}

// ParseUiLine alone, line by line.
void BM_ParseUiLine(benchmark::State& state) {
  static const std::vector<std::string_view> lines = Lines();
  size_t bytes = 0;
  for (auto _ : state) {
    for (std::string_view line : lines) {
      UiEvent e = ParseUiLine(line);
      benchmark::DoNotOptimize(e);
      bytes += line.size() + 1;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["lines"] = benchmark::Counter(
      static_cast<double>(lines.size()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseUiLine)->Unit(benchmark::kMillisecond);

// The whole pipeline a job uses: pipe-sized chunks into UiStreamParser,
// splitting, parsing and folding into the summary.
void BM_UiStreamParserFeed(benchmark::State& state) {
  const std::string& stream = Stream();
  const size_t chunk = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    UiStreamParser parser;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      parser.Feed(std::string_view(stream).substr(i, chunk));
    }
    parser.Finish();
    benchmark::DoNotOptimize(parser.summary().resources.size());
    if (!parser.summary().changes || parser.summary().changes->add != 9999) {
      state.SkipWithError("the stream did not parse as expected");
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(stream.size()) * state.iterations());
}
BENCHMARK(BM_UiStreamParserFeed)->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);

// Lines that are not JSON (TF_LOG junk, banners) take the cheap path.
void BM_ParseUiLineNotJson(benchmark::State& state) {
  const std::string line =
      "2026-11-23T11:34:23.275Z [DEBUG] "
      "provider.terraform-provider-aws_v5.0.0: "
      "HTTP Request Sent: http.method=GET "
      "http.url=https://ec2.eu-west-1.amazonaws.com/";
  for (auto _ : state) {
    UiEvent e = ParseUiLine(line);
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(line.size()) * state.iterations());
}
BENCHMARK(BM_ParseUiLineNotJson);

}  // namespace

BENCHMARK_MAIN();
