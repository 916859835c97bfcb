#include "config/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <sstream>

namespace provisioner::config {

YamlNode::YamlNode() = default;

namespace {

YamlMark ToMark(const YAML::Mark& m) {
  // yaml-cpp counts from 0; -1 means "no position".
  return YamlMark{m.line < 0 ? 0 : m.line + 1, m.column < 0 ? 0 : m.column + 1};
}

// Thrown from inside the handler to stop yaml-cpp's parse at the first
// refusal; caught in ParseYaml and never lets out.
struct Refusal {
  YamlError error;
};

class TreeBuilder final : public YAML::EventHandler {
 public:
  explicit TreeBuilder(const YamlLimits& limits) : limits_(limits) {}

  bool done() const { return documents_ > 0; }
  YamlNode TakeRoot() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_ > 0) {
      Refuse(mark, "several YAML documents in one file; keep one (remove the extra '---')");
    }
  }
  void OnDocumentEnd() override { ++documents_; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    CheckAnchor(mark, anchor);
    YamlNode node;
    node.kind = YamlNode::Kind::kNull;
    node.mark = ToMark(mark);
    Add(std::move(node));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    Refuse(mark, "YAML aliases (*name) are not allowed; write the value out");
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    CheckAnchor(mark, anchor);
    YamlNode node;
    node.kind = YamlNode::Kind::kScalar;
    node.mark = ToMark(mark);
    node.value = value;
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      node.quoted = true;
    } else if (tag != "?") {
      Refuse(mark, "YAML tags (" + tag + ") are not supported; use quotes for strings");
    }
    Add(std::move(node));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, tag, anchor, YamlNode::Kind::kSequence);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, tag, anchor, YamlNode::Kind::kMap);
  }
  void OnMapEnd() override { Close(); }

 private:
  [[noreturn]] void Refuse(const YAML::Mark& mark, std::string message) {
    throw Refusal{YamlError{ToMark(mark), std::move(message)}};
  }

  void CheckAnchor(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) {
      Refuse(mark, "YAML anchors (&name) are not allowed; write the value out");
    }
  }

  void Count(const YAML::Mark& mark) {
    if (++nodes_ > limits_.max_nodes) {
      Refuse(mark, "document has more than " + std::to_string(limits_.max_nodes) + " nodes");
    }
  }

  void Open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
            YamlNode::Kind kind) {
    CheckAnchor(mark, anchor);
    if (tag != "?" && tag != "!") {
      Refuse(mark, "YAML tags (" + tag + ") are not supported");
    }
    Count(mark);
    if (stack_.size() >= limits_.max_depth) {
      Refuse(mark, "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    YamlNode node;
    node.kind = kind;
    node.mark = ToMark(mark);
    stack_.push_back(std::move(node));
    pending_key_.push_back(false);
  }

  void Close() {
    YamlNode node = std::move(stack_.back());
    stack_.pop_back();
    pending_key_.pop_back();
    Add(std::move(node), /*counted=*/true);
  }

  // Attaches a finished node to its parent: a sequence item, a map key, or a
  // map value; or makes it the root.
  void Add(YamlNode node, bool counted = false) {
    if (!counted) Count(YAML::Mark());
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    YamlNode& parent = stack_.back();
    if (parent.IsSequence()) {
      parent.items.push_back(std::move(node));
      return;
    }
    // A map alternates key, value.
    if (!pending_key_.back()) {
      parent.entries.emplace_back(std::move(node), YamlNode{});
      pending_key_.back() = true;
    } else {
      parent.entries.back().second = std::move(node);
      pending_key_.back() = false;
    }
  }

  const YamlLimits limits_;
  std::vector<YamlNode> stack_;
  std::vector<bool> pending_key_;  // per open map: a key is waiting for its value
  YamlNode root_;
  size_t nodes_ = 0;
  int documents_ = 0;
};

}  // namespace

Result<YamlNode> ParseYaml(std::string_view text, const YamlLimits& limits, YamlError* error) {
  auto fail = [error](YamlError e) -> Status {
    std::string message = e.message;
    if (error != nullptr) *error = std::move(e);
    return Status::InvalidArgument(message);
  };
  std::istringstream in{std::string(text)};
  TreeBuilder builder(limits);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const Refusal& r) {
    return fail(r.error);
  } catch (const YAML::Exception& e) {
    // Includes YAML::DeepRecursion from yaml-cpp's own depth guard.
    return fail(YamlError{ToMark(e.mark), e.msg});
  } catch (const std::exception& e) {
    return fail(YamlError{YamlMark{}, e.what()});
  }
  return builder.TakeRoot();
}

std::string_view KindName(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::kNull:
      return "nothing";
    case YamlNode::Kind::kScalar:
      return "a scalar";
    case YamlNode::Kind::kSequence:
      return "a list";
    case YamlNode::Kind::kMap:
      return "a mapping";
  }
  return "?";
}

namespace {

// Levenshtein distance, for "did you mean" hints on unknown keys.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string UnknownKeyMessage(std::string_view key, std::span<const std::string_view> allowed) {
  std::string message = "unknown key \"" + std::string(key) + "\"";
  if (allowed.empty()) return message + " (this section takes no keys)";
  std::string_view best;
  size_t best_distance = 3;
  for (std::string_view candidate : allowed) {
    size_t d = EditDistance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  if (!best.empty()) return message + " (did you mean \"" + std::string(best) + "\"?)";
  std::string list;
  for (std::string_view a : allowed) {
    if (!list.empty()) list += ", ";
    list.append(a);
  }
  return message + " (allowed: " + list + ")";
}

}  // namespace provisioner::config
