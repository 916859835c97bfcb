// What the fake keeps on disk: the v4 state file with its fcntl lock and
// lock-info file (local backend, reference §2.3 and §4.4), and variables.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fake_tofu.h"

extern char** environ;

namespace fake_tofu {
namespace {

std::string ProviderOf(const Addr& a) {
  return "provider[\"registry.opentofu.org/hashicorp/" + a.ImpliedProvider() + "\"]";
}

Json ToOrdered(const MapJson& value) { return Json::parse(value.dump()); }

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The subset of native .tfvars syntax tests need: `name = <literal>` lines,
// where the literal is a quoted string, a number, a bool, or JSON-compatible
// list/object text.
std::optional<Diag> ParseHclVars(const std::string& path, const std::string& text,
                                 std::map<std::string, MapJson>* vars) {
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view l = line;
    while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
    if (l.empty() || l[0] == '#' || l.substr(0, 2) == "//") continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) {
      return Diag{true,
                  "Invalid tfvars line",
                  path + ":" + std::to_string(number) + ": expected name = value",
                  "",
                  {}};
    }
    std::string name(l.substr(0, eq));
    while (!name.empty() && name.back() == ' ') name.pop_back();
    std::string_view value = l.substr(eq + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
    MapJson parsed = MapJson::parse(value, nullptr, false);
    if (parsed.is_discarded()) {
      return Diag{true,
                  "Unsupported tfvars value",
                  path + ":" + std::to_string(number) +
                      ": fake_tofu reads only literal values in .tfvars files",
                  "",
                  {}};
    }
    (*vars)[name] = parsed;
  }
  return std::nullopt;
}

std::optional<Diag> LoadVarFile(const std::string& path, std::map<std::string, MapJson>* vars) {
  std::optional<std::string> text = ReadFile(path);
  if (!text) {
    return Diag{true,
                "Failed to read variables file",
                "Given variables file " + path + " does not exist.",
                "",
                {}};
  }
  size_t first = text->find_first_not_of(" \t\r\n");
  bool json = EndsWith(path, ".json") || (first != std::string::npos && (*text)[first] == '{');
  if (!json) return ParseHclVars(path, *text, vars);
  MapJson parsed = MapJson::parse(*text, nullptr, false);
  if (!parsed.is_object()) {
    return Diag{true,
                "Invalid JSON variables file",
                "The root value in " + path + " must be an object.",
                "",
                {}};
  }
  for (auto it = parsed.begin(); it != parsed.end(); ++it) (*vars)[it.key()] = *it;
  return std::nullopt;
}

}  // namespace

const Resource* State::Find(const std::string& addr) const {
  for (const Resource& r : resources) {
    if (r.addr == addr) return &r;
  }
  return nullptr;
}

MapJson CtyTypeOf(const MapJson& value) {
  if (value.is_string()) return "string";
  if (value.is_number()) return "number";
  if (value.is_boolean()) return "bool";
  if (value.is_array()) {
    MapJson types = MapJson::array();
    for (const MapJson& item : value) types.push_back(CtyTypeOf(item));
    return MapJson::array({"tuple", types});
  }
  if (value.is_object()) {
    MapJson attrs = MapJson::object();
    for (auto it = value.begin(); it != value.end(); ++it) attrs[it.key()] = CtyTypeOf(*it);
    return MapJson::array({"object", attrs});
  }
  return "dynamic";
}

std::string StateToText(const State& state, const std::string& version) {
  Json j;
  j["version"] = 4;
  j["terraform_version"] = version;
  j["serial"] = state.serial;
  j["lineage"] = state.lineage;
  Json outputs = Json::object();
  for (const auto& [name, out] : state.outputs) {
    Json o;
    o["value"] = ToOrdered(out.value);
    o["type"] = ToOrdered(out.type);
    if (out.sensitive) o["sensitive"] = true;
    outputs[name] = o;
  }
  j["outputs"] = outputs;
  // Instances of one resource (a[0], a[1]) share one resources[] entry.
  Json resources = Json::array();
  std::vector<std::string> keys;
  for (const Resource& r : state.resources) {
    Addr a = ParseAddr(r.addr);
    std::string key = a.module + "|" + a.type + "|" + a.name;
    auto pos = std::find(keys.begin(), keys.end(), key);
    if (pos == keys.end()) {
      Json entry;
      if (!a.module.empty()) entry["module"] = a.module;
      entry["mode"] = "managed";
      entry["type"] = a.type;
      entry["name"] = a.name;
      entry["provider"] = ProviderOf(a);
      entry["instances"] = Json::array();
      resources.push_back(entry);
      keys.push_back(key);
      pos = keys.end() - 1;
    }
    Json instance;
    if (a.key) instance["index_key"] = *a.key;
    instance["schema_version"] = 0;
    instance["attributes"] = {{"id", r.id}, {"triggers", nullptr}};
    instance["sensitive_attributes"] = Json::array();
    resources[static_cast<size_t>(pos - keys.begin())]["instances"].push_back(instance);
  }
  j["resources"] = resources;
  j["check_results"] = nullptr;
  // The local backend pretty-prints state since 1.12.0.
  return j.dump(2) + "\n";
}

std::string StateFromText(const std::string& text, State* state) {
  *state = State{};
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return "";
  MapJson j = MapJson::parse(text, nullptr, false);
  if (!j.is_object() || j.value("version", 0) != 4) return "Unsupported state file format";
  state->exists = true;
  state->serial = j.value("serial", int64_t{0});
  state->lineage = j.value("lineage", "");
  state->terraform_version = j.value("terraform_version", "");
  if (j.contains("outputs") && j["outputs"].is_object()) {
    for (auto it = j["outputs"].begin(); it != j["outputs"].end(); ++it) {
      OutputValue out;
      out.value = it->value("value", MapJson());
      out.type = it->value("type", MapJson("dynamic"));
      out.sensitive = it->value("sensitive", false);
      state->outputs[it.key()] = out;
    }
  }
  if (j.contains("resources") && j["resources"].is_array()) {
    for (const MapJson& r : j["resources"]) {
      if (r.value("mode", "") != "managed") continue;
      std::string base = r.value("type", "") + "." + r.value("name", "");
      if (r.contains("module")) base = r["module"].get<std::string>() + "." + base;
      for (const MapJson& inst : r.value("instances", MapJson::array())) {
        Resource res;
        res.addr = base;
        if (inst.contains("index_key")) {
          // Appended piece by piece: GCC 12 at -O3 warns -Wrestrict on
          // `"[" + std::string` (GCC PR 105651).
          res.addr += '[';
          res.addr += inst["index_key"].dump();
          res.addr += ']';
        }
        res.id = inst.contains("attributes") ? inst["attributes"].value("id", "") : "";
        state->resources.push_back(res);
      }
    }
  }
  return "";
}

StateFile::~StateFile() {
  if (fd_ >= 0) close(fd_);
}

std::string StateFile::LockInfoPath() const {
  size_t slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  return dir + "." + base + ".lock.info";
}

std::string StateFile::Open(bool lock) {
  size_t slash = path_.rfind('/');
  if (slash != std::string::npos) MakeDirs(path_.substr(0, slash));
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return std::strerror(errno);
  if (lock && !TryLockOnce()) return "resource temporarily unavailable";
  return "";
}

bool StateFile::TryLockOnce() {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd_, F_SETLK, &fl) != 0) return false;
  locked_ = true;
  CurrentExitHooks().lock_fd = fd_;
  CurrentExitHooks().lock_info_path = LockInfoPath();
  return true;
}

void StateFile::WriteLockInfo(const std::string& operation, const std::string& who,
                              const std::string& version) {
  auto now = std::chrono::system_clock::now();
  Json info;
  info["ID"] = RandomUuid();
  info["Operation"] = operation;
  info["Info"] = "";
  info["Who"] = who;
  info["Version"] = version;
  info["Created"] = Rfc3339Nano(now);
  info["Path"] = display_path_;
  WriteFile(LockInfoPath(), info.dump());
}

std::string StateFile::ReadLockInfoForError() const {
  std::optional<std::string> text = ReadFile(LockInfoPath());
  MapJson info = MapJson::parse(text.value_or(""), nullptr, false);
  if (!info.is_object()) info = MapJson::object();
  auto field = [&info](const char* key) {
    return info.contains(key) && info[key].is_string() ? info[key].get<std::string>() : "";
  };
  // The file holds RFC 3339; the message shows Go's time.Time.String().
  std::string created = field("Created");
  if (!created.empty() && created.back() == 'Z') {
    created.pop_back();
    std::replace(created.begin(), created.end(), 'T', ' ');
    created += " +0000 UTC";
  }
  return "Lock Info:\n"
         "  ID:        " +
         field("ID") +
         "\n"
         "  Path:      " +
         field("Path") +
         "\n"
         "  Operation: " +
         field("Operation") +
         "\n"
         "  Who:       " +
         field("Who") +
         "\n"
         "  Version:   " +
         field("Version") +
         "\n"
         "  Created:   " +
         created +
         "\n"
         "  Info:      " +
         field("Info") + "\n";
}

std::string StateFile::Read() const {
  std::string text;
  char buf[65536];
  off_t offset = 0;
  while (true) {
    ssize_t n = pread(fd_, buf, sizeof(buf), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return text;
}

void StateFile::Write(const std::string& text) {
  // In place through the locked descriptor, as the local backend does: a
  // rename would put the data in a file nobody holds the lock on.
  if (ftruncate(fd_, 0) != 0) return;
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = pwrite(fd_, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
  fsync(fd_);
}

void StateFile::Unlock() {
  if (!locked_) return;
  unlink(LockInfoPath().c_str());
  struct flock fl {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fcntl(fd_, F_SETLK, &fl);
  locked_ = false;
  CurrentExitHooks().lock_fd = -1;
  CurrentExitHooks().lock_info_path.clear();
}

std::string LockErrorDetail(const std::string& holder_info) {
  // fmt.Sprintf(LockErrorMessage, err) with err = LockError{Info, Err}:
  // "<errno text>\n<LockInfo.String()>".
  return "Error message: resource temporarily unavailable\n" + holder_info +
         "\n\n"
         "OpenTofu acquires a state lock to protect the state from being "
         "written\n"
         "by multiple users at the same time. Please resolve the issue above "
         "and try\n"
         "again. For most commands, you can disable locking with the "
         "\"-lock=false\"\n"
         "flag, but this is not recommended.";
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return std::nullopt;
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  return out.good();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool MakeDirs(const std::string& path) {
  if (path.empty()) return true;
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (!partial.empty() && mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

std::optional<Diag> LoadVariables(const std::vector<VarSource>& cli,
                                  std::map<std::string, MapJson>* vars) {
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry = *e;
    if (entry.substr(0, 7) != "TF_VAR_") continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    (*vars)[std::string(entry.substr(7, eq - 7))] = std::string(entry.substr(eq + 1));
  }
  for (const char* file : {"terraform.tfvars", "terraform.tfvars.json"}) {
    if (FileExists(file)) {
      if (auto diag = LoadVarFile(file, vars)) return diag;
    }
  }
  std::vector<std::string> autos;
  if (DIR* dir = opendir(".")) {
    while (dirent* ent = readdir(dir)) {
      std::string name = ent->d_name;
      if (EndsWith(name, ".auto.tfvars") || EndsWith(name, ".auto.tfvars.json")) {
        autos.push_back(name);
      }
    }
    closedir(dir);
  }
  std::sort(autos.begin(), autos.end());
  for (const std::string& file : autos) {
    if (auto diag = LoadVarFile(file, vars)) return diag;
  }
  for (const VarSource& source : cli) {
    if (source.is_file) {
      if (auto diag = LoadVarFile(source.text, vars)) return diag;
      continue;
    }
    size_t eq = source.text.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Diag{true,
                  "Invalid -var option",
                  "The given -var option \"" + source.text +
                      "\" is not correctly specified. It must be a variable "
                      "name and value "
                      "separated an equals sign, like -var=\"key=value\".",
                  "",
                  {}};
    }
    (*vars)[source.text.substr(0, eq)] = source.text.substr(eq + 1);
  }
  return std::nullopt;
}

}  // namespace fake_tofu
