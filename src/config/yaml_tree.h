// A small document tree built from yaml-cpp's event parser, with the guards
// that a file from outside needs.
//
// yaml-cpp's own Node API expands aliases lazily, so a "billion laughs"
// document loads in no time and explodes when it is walked. Building our own
// tree from parser events lets us refuse anchors and aliases outright, cap
// the nesting depth and the node count, see duplicate keys (yaml-cpp keeps
// both), and keep a line and column for every key and value. JSON is parsed
// by the same path: it is YAML's flow style.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace provisioner::config {

struct YamlMark {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

struct YamlNode {
  // Defaulted in yaml_tree.cc: with an implicit one, clang 14 (libstdc++ 12)
  // instantiates std::pair<YamlNode, YamlNode> before YamlNode is complete.
  YamlNode();

  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  YamlMark mark;
  // Scalars: the text, and whether it was quoted ('...', "...", or a block
  // scalar), which makes it a string whatever it looks like.
  std::string value;
  bool quoted = false;
  std::vector<YamlNode> items;                         // kSequence
  std::vector<std::pair<YamlNode, YamlNode>> entries;  // kMap, in file order

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsMap() const { return kind == Kind::kMap; }
  bool IsSequence() const { return kind == Kind::kSequence; }
};

struct YamlLimits {
  size_t max_depth = 64;
  size_t max_nodes = 2'000'000;
};

// A parse failure with its position (line/column 0 when there is none).
struct YamlError {
  YamlMark mark;
  std::string message;
};

// Parses one YAML (or JSON) document. Refuses anchors, aliases, several
// documents, deeper nesting or more nodes than `limits`, and any syntax
// error. An empty document or one holding only comments gives a kNull root.
// Never throws.
Result<YamlNode> ParseYaml(std::string_view text, const YamlLimits& limits, YamlError* error);

// "a scalar", "a list", "a mapping" or "nothing", for type errors.
std::string_view KindName(const YamlNode& n);

// `unknown key "tiemout" (did you mean "timeout"?)`, or the allowed keys
// when none is close (edit distance 2 or less).
std::string UnknownKeyMessage(std::string_view key, std::span<const std::string_view> allowed);

}  // namespace provisioner::config
