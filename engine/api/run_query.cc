#include "engine/api/run_query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "common/time.h"

namespace gridflow::engine {
namespace {

using persistence::RunCondition;

struct Token {
  enum class Kind { kEnd, kWord, kString, kNumber, kOperator, kOpen, kClose, kComma };
  Kind kind = Kind::kEnd;
  std::string text;   // a word as written, a string's value, a number's or an operator's text
  size_t column = 0;  // 1-based
};

// The run fields a query may name and their types.
const std::map<std::string, std::string>& RunFields() {
  static const std::map<std::string, std::string> kFields = {
      {"status", "keyword"},      {"definition", "keyword"}, {"version", "number"},
      {"workflow_id", "keyword"}, {"started_by", "keyword"}, {"created_at", "datetime"},
      {"updated_at", "datetime"}, {"closed_at", "datetime"}};
  return kFields;
}

constexpr std::string_view kStatuses[] = {"RUNNING", "CANCELLING", "COMPENSATING", "COMPLETED",
                                          "FAILED",  "CANCELLED",  "TERMINATED"};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class Parser {
 public:
  Parser(std::string_view text, const std::map<std::string, std::string>& attribute_types)
      : text_(text), types_(attribute_types) {}

  Status Parse(RunCondition* out) {
    if (Status s = Tokenize(); !s.ok()) return s;
    if (tokens_.size() == 1)
      return Error(1, "is empty; write a condition such as status = 'FAILED'");
    if (Status s = ParseOr(0, out); !s.ok()) return s;
    if (Peek().kind != Token::Kind::kEnd) {
      return Error(Peek().column, "unexpected '" + Peek().text + "'; expected AND, OR or the end");
    }
    return Status::Ok();
  }

 private:
  static Status Error(size_t column, const std::string& message) {
    return Status::InvalidArgument("query: column " + std::to_string(column) + ": " + message);
  }

  Status Tokenize() {
    size_t i = 0;
    while (i < text_.size()) {
      const char c = text_[i];
      const size_t column = i + 1;
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '_')) {
          ++j;
        }
        tokens_.push_back({Token::Kind::kWord, std::string(text_.substr(i, j - i)), column});
        i = j;
      } else if (c == '\'') {
        std::string value;
        size_t j = i + 1;
        while (true) {
          if (j >= text_.size()) return Error(column, "a string is not closed (missing ')");
          if (text_[j] == '\'') {
            if (j + 1 < text_.size() && text_[j + 1] == '\'') {  // '' is a quote inside
              value += '\'';
              j += 2;
              continue;
            }
            break;
          }
          value += text_[j++];
        }
        tokens_.push_back({Token::Kind::kString, std::move(value), column});
        i = j + 1;
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
        size_t j = i + 1;
        while (j < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '.' ||
                ((text_[j] == '-' || text_[j] == '+') &&
                 (text_[j - 1] == 'e' || text_[j - 1] == 'E')))) {
          ++j;
        }
        tokens_.push_back({Token::Kind::kNumber, std::string(text_.substr(i, j - i)), column});
        i = j;
      } else if (c == '=' || c == '<' || c == '>' || c == '!') {
        std::string op(1, c);
        if (i + 1 < text_.size() && (text_[i + 1] == '=' || (c == '<' && text_[i + 1] == '>'))) {
          op += text_[i + 1];
        }
        const size_t length = op.size();
        if (op == "!") return Error(column, "'!' must be followed by '=' (or use NOT)");
        if (op == "<>") op = "!=";
        if (op == "==") return Error(column, "use '=' to compare");
        tokens_.push_back({Token::Kind::kOperator, op, column});
        i += length;
      } else if (c == '(' || c == ')' || c == ',') {
        tokens_.push_back({c == '('   ? Token::Kind::kOpen
                           : c == ')' ? Token::Kind::kClose
                                      : Token::Kind::kComma,
                           std::string(1, c), column});
        ++i;
      } else {
        return Error(column, std::string("unexpected character '") + c +
                                 "' (strings are written in single quotes)");
      }
    }
    tokens_.push_back({Token::Kind::kEnd, "end of query", text_.size() + 1});
    return Status::Ok();
  }

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool IsWord(const Token& t, std::string_view word) const {
    return t.kind == Token::Kind::kWord && Upper(t.text) == word;
  }

  // `kind` is kAnd or kOr: operands joined by that word.
  Status ParseList(int depth, RunCondition::Kind kind, RunCondition* out) {
    const std::string_view word = kind == RunCondition::Kind::kAnd ? "AND" : "OR";
    RunCondition first;
    Status s = kind == RunCondition::Kind::kAnd
                   ? ParseUnary(depth, &first)
                   : ParseList(depth, RunCondition::Kind::kAnd, &first);
    if (!s.ok()) return s;
    if (!IsWord(Peek(), word)) {
      *out = std::move(first);
      return Status::Ok();
    }
    RunCondition list;
    list.kind = kind;
    list.operands.push_back(std::move(first));
    while (IsWord(Peek(), word)) {
      Next();
      RunCondition operand;
      s = kind == RunCondition::Kind::kAnd ? ParseUnary(depth, &operand)
                                           : ParseList(depth, RunCondition::Kind::kAnd, &operand);
      if (!s.ok()) return s;
      list.operands.push_back(std::move(operand));
    }
    *out = std::move(list);
    return Status::Ok();
  }

  Status ParseOr(int depth, RunCondition* out) {
    if (depth > kMaxRunQueryDepth) {
      return Error(Peek().column, "parentheses and NOTs nest more than " +
                                      std::to_string(kMaxRunQueryDepth) + " deep");
    }
    return ParseList(depth, RunCondition::Kind::kOr, out);
  }

  Status ParseUnary(int depth, RunCondition* out) {
    if (IsWord(Peek(), "NOT")) {
      Next();
      if (depth + 1 > kMaxRunQueryDepth) {
        return Error(Peek().column, "parentheses and NOTs nest more than " +
                                        std::to_string(kMaxRunQueryDepth) + " deep");
      }
      RunCondition operand;
      if (Status s = ParseUnary(depth + 1, &operand); !s.ok()) return s;
      out->kind = RunCondition::Kind::kNot;
      out->operands.push_back(std::move(operand));
      return Status::Ok();
    }
    if (Peek().kind == Token::Kind::kOpen) {
      const size_t column = Next().column;
      if (Status s = ParseOr(depth + 1, out); !s.ok()) return s;
      if (Peek().kind != Token::Kind::kClose) {
        return Error(Peek().column, "expected ')' to close the '(' at column " +
                                        std::to_string(column) + ", found '" + Peek().text + "'");
      }
      Next();
      return Status::Ok();
    }
    return ParseCondition(out);
  }

  Status ParseCondition(RunCondition* out) {
    const Token field = Next();
    if (field.kind != Token::Kind::kWord || IsKeyword(field)) {
      return Error(field.column, "expected a field name, found '" + field.text + "'");
    }
    if (++conditions_ > kMaxRunQueryConditions) {
      return Error(field.column, "a query may have at most " +
                                     std::to_string(kMaxRunQueryConditions) + " conditions");
    }
    out->field = field.text;
    if (const auto run_field = RunFields().find(field.text); run_field != RunFields().end()) {
      out->type = run_field->second;
    } else if (const auto attribute = types_.find(field.text); attribute != types_.end()) {
      out->type = attribute->second;
      out->attribute = true;
    } else {
      return Error(field.column, "unknown field '" + field.text + "' (" + KnownFields() + ")");
    }
    bool negated = false;
    if (IsWord(Peek(), "NOT")) {
      Next();
      negated = true;
      if (!IsWord(Peek(), "IN")) return Error(Peek().column, "expected IN after NOT");
    }
    if (IsWord(Peek(), "IN")) {
      Next();
      out->kind = RunCondition::Kind::kIn;
      if (Status s = ParseInList(field, out); !s.ok()) return s;
      if (negated) {
        RunCondition in = std::move(*out);
        *out = RunCondition{};
        out->kind = RunCondition::Kind::kNot;
        out->operands.push_back(std::move(in));
      }
      return Status::Ok();
    }
    const Token op = Next();
    if (op.kind != Token::Kind::kOperator) {
      return Error(op.column, "expected an operator (=, !=, <, <=, >, >=, IN) after '" +
                                  field.text + "', found '" + op.text + "'");
    }
    if ((out->type == "keyword" || out->type == "bool") && op.text != "=" && op.text != "!=") {
      return Error(op.column, "'" + field.text + "' is a " + out->type +
                                  ": compare it with =, != or IN, not " + op.text);
    }
    out->kind = RunCondition::Kind::kCompare;
    out->op = op.text;
    std::string value;
    if (Status s = ParseValue(field, out->type, &value); !s.ok()) return s;
    out->values.push_back(std::move(value));
    return Status::Ok();
  }

  Status ParseInList(const Token& field, RunCondition* out) {
    if (Peek().kind != Token::Kind::kOpen) {
      return Error(Peek().column, "expected '(' after IN, found '" + Peek().text + "'");
    }
    Next();
    while (true) {
      if (out->values.size() >= kMaxRunQueryInValues) {
        return Error(Peek().column, "an IN list may have at most " +
                                        std::to_string(kMaxRunQueryInValues) + " values");
      }
      std::string value;
      if (Status s = ParseValue(field, out->type, &value); !s.ok()) return s;
      out->values.push_back(std::move(value));
      const Token t = Next();
      if (t.kind == Token::Kind::kClose) return Status::Ok();
      if (t.kind != Token::Kind::kComma) {
        return Error(t.column, "expected ',' or ')' in the IN list, found '" + t.text + "'");
      }
    }
  }

  // A literal of the field's type, in the canonical text persistence binds as a parameter.
  Status ParseValue(const Token& field, const std::string& type, std::string* out) {
    const Token t = Next();
    const std::string where = "'" + field.text + "' is a " + type;
    if (type == "keyword") {
      if (t.kind != Token::Kind::kString) {
        return Error(t.column,
                     where + ": compare it with a string in single quotes, not '" + t.text + "'");
      }
      *out = t.text;
      if (field.text == "status") {
        *out = Upper(t.text);
        if (std::find(std::begin(kStatuses), std::end(kStatuses), *out) == std::end(kStatuses)) {
          return Error(t.column, "unknown status '" + t.text +
                                     "' (RUNNING, CANCELLING, COMPENSATING, COMPLETED, FAILED, "
                                     "CANCELLED, TERMINATED)");
        }
      }
      return Status::Ok();
    }
    if (type == "number") {
      char* end = nullptr;
      const double v = t.kind == Token::Kind::kNumber ? std::strtod(t.text.c_str(), &end) : 0;
      if (t.kind != Token::Kind::kNumber || end != t.text.c_str() + t.text.size() ||
          !std::isfinite(v)) {
        return Error(t.column, where + ": compare it with a number, not '" + t.text + "'");
      }
      *out = t.text;
      return Status::Ok();
    }
    if (type == "date") {
      if (t.kind != Token::Kind::kString || !ParseDate(t.text)) {
        return Error(t.column,
                     where + ": compare it with a date such as '2026-12-03', not '" + t.text + "'");
      }
      *out = t.text;
      return Status::Ok();
    }
    if (type == "datetime") {
      const auto instant = t.kind == Token::Kind::kString ? ParseTimestamp(t.text) : std::nullopt;
      if (!instant) {
        return Error(t.column, where +
                                   ": compare it with an RFC 3339 instant such as "
                                   "'2026-12-03T11:00:00Z', not '" +
                                   t.text + "'");
      }
      *out = FormatRfc3339(*instant);
      return Status::Ok();
    }
    // bool
    if (!IsWord(t, "TRUE") && !IsWord(t, "FALSE")) {
      return Error(t.column, where + ": compare it with true or false, not '" + t.text + "'");
    }
    *out = IsWord(t, "TRUE") ? "true" : "false";
    return Status::Ok();
  }

  bool IsKeyword(const Token& t) const {
    for (const std::string_view k : {"AND", "OR", "NOT", "IN", "TRUE", "FALSE"}) {
      if (IsWord(t, k)) return true;
    }
    return false;
  }

  std::string KnownFields() const {
    std::string list = "run fields: ";
    bool first = true;
    for (const auto& [name, type] : RunFields()) {
      list += (first ? "" : ", ") + name;
      first = false;
    }
    if (types_.empty()) return list + "; this namespace declares no search attributes";
    list += "; search attributes: ";
    first = true;
    for (const auto& [name, type] : types_) {
      list += (first ? "" : ", ") + name;
      first = false;
    }
    return list;
  }

  std::string_view text_;
  const std::map<std::string, std::string>& types_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int conditions_ = 0;
};

}  // namespace

Status ParseRunQuery(std::string_view text,
                     const std::map<std::string, std::string>& attribute_types, RunCondition* out) {
  if (text.size() > kMaxRunQueryBytes) {
    return Status::InvalidArgument("query: longer than " + std::to_string(kMaxRunQueryBytes) +
                                   " bytes");
  }
  *out = RunCondition{};
  return Parser(text, attribute_types).Parse(out);
}

}  // namespace gridflow::engine
