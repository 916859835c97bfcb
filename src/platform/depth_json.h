// Parsing JSON from outside (request bodies, files on disk) with a depth cap.
//
// nlohmann parses iteratively, but copies, compares and prints recursively,
// so a deeply nested document can overflow the stack later
// (reference/debian-libraries.md §3). Its parser-callback hook could enforce
// a cap, but it re-scans the parent object at every object end, which is
// quadratic in the object's size: a 1 MiB body of small keys costs seconds,
// a state file of 10,000 workspaces a second. This wraps nlohmann's own DOM
// builder in a SAX handler that counts depth: one linear pass.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace provisioner::platform {

enum class JsonParse { kOk, kSyntaxError, kTooDeep };

// Parses `text` into `*doc`. On a syntax error `*error` holds nlohmann's
// message with its position; on kTooDeep, nothing useful is in `*doc`.
inline JsonParse ParseJsonWithDepthLimit(std::string_view text, int limit, nlohmann::json* doc,
                                         std::string* error) {
  using Json = nlohmann::json;
  class Builder final : public nlohmann::json_sax<Json> {
   public:
    Builder(Json* doc, int limit) : dom_(*doc, /*allow_exceptions=*/false), limit_(limit) {}
    bool too_deep = false;
    std::string error;

    bool null() override { return dom_.null(); }
    bool boolean(bool v) override { return dom_.boolean(v); }
    bool number_integer(number_integer_t v) override { return dom_.number_integer(v); }
    bool number_unsigned(number_unsigned_t v) override { return dom_.number_unsigned(v); }
    bool number_float(number_float_t v, const string_t& s) override {
      return dom_.number_float(v, s);
    }
    bool string(string_t& v) override { return dom_.string(v); }
    bool binary(binary_t& v) override { return dom_.binary(v); }
    bool start_object(std::size_t n) override { return Enter() && dom_.start_object(n); }
    bool key(string_t& k) override { return dom_.key(k); }
    bool end_object() override {
      --depth_;
      return dom_.end_object();
    }
    bool start_array(std::size_t n) override { return Enter() && dom_.start_array(n); }
    bool end_array() override {
      --depth_;
      return dom_.end_array();
    }
    bool parse_error(std::size_t, const std::string&,
                     const nlohmann::detail::exception& e) override {
      error = e.what();
      return false;
    }

   private:
    bool Enter() {
      if (++depth_ > limit_) too_deep = true;
      return !too_deep;
    }
    nlohmann::detail::json_sax_dom_parser<Json> dom_;
    const int limit_;
    int depth_ = 0;
  };
  Builder builder(doc, limit);
  const bool ok = Json::sax_parse(text, &builder, Json::input_format_t::json, /*strict=*/true);
  if (builder.too_deep) return JsonParse::kTooDeep;
  if (!ok || !builder.error.empty()) {
    *error = builder.error.empty() ? "syntax error" : builder.error;
    return JsonParse::kSyntaxError;
  }
  return JsonParse::kOk;
}

}  // namespace provisioner::platform
