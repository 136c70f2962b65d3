#include "engine/dsl/expression.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <vector>

#include "common/json_text.h"
#include "engine/dsl/functions.h"

namespace gridflow::dsl {

using nlohmann::json;

struct Expression::Node {
  enum class Kind { kLiteral, kPointer, kArray, kUnary, kBinary, kIndex, kMember, kCall };
  Kind kind = Kind::kLiteral;
  size_t column = 0;  // 1-based, where the node starts
  json literal;
  std::vector<std::string> pointer;  // kPointer: reference tokens (unescaped)
  std::string op;                    // kUnary, kBinary: the operator; kMember, kCall: the name
  std::vector<std::shared_ptr<const Node>> children;
  int height = 1;  // of the tree below and including this node
};

namespace {

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

constexpr int kMaxDepth = 64;  // parentheses, brackets, calls and unary operators
Status ErrorAt(size_t column, const std::string& message) {
  return Status::InvalidArgument("column " + std::to_string(column) + ": " + message);
}

// Chains of binary operators, indexes and member accesses build trees as tall as they are long;
// evaluation (and destruction) recurse over them, so their height is bounded too.
constexpr int kMaxHeight = 256;

int HeightOver(const std::vector<NodePtr>& children) {
  int height = 0;
  for (const auto& child : children)
    height = std::max(height, child->height);
  return height + 1;
}

Status TooTall(size_t column) {
  return ErrorAt(column, "expression nested too deeply (more than " + std::to_string(kMaxHeight) +
                             " operators inside one another)");
}

enum class Tok { kEnd, kNumber, kString, kIdent, kPointer, kPunct };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;  // punct/ident/raw; string: the unescaped value
  json number;
  std::vector<std::string> pointer;
  size_t column = 0;
};

bool IsPointerChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '~' ||
         c == ':' || c == '@';
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Status Next(Token* t) {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
    *t = Token{};
    t->column = pos_ + 1;
    if (pos_ >= text_.size()) return Status::Ok();
    const char c = text_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c))) return Number(t);
    if (c == '"' || c == '\'') return String(t, c);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
        ++pos_;
      }
      t->type = Tok::kIdent;
      t->text = std::string(text_.substr(start, pos_ - start));
      return Status::Ok();
    }
    if (c == '$') return Pointer(t);
    static constexpr std::string_view kTwoChar[] = {"||", "&&", "==", "!=", "<=", ">="};
    for (std::string_view op : kTwoChar) {
      if (text_.substr(pos_, 2) == op) {
        t->type = Tok::kPunct;
        t->text = std::string(op);
        pos_ += 2;
        return Status::Ok();
      }
    }
    if (std::string_view("()[],.!<>+-*/%").find(c) != std::string_view::npos) {
      t->type = Tok::kPunct;
      t->text = std::string(1, c);
      ++pos_;
      return Status::Ok();
    }
    return ErrorAt(t->column, std::string("unexpected character '") + c + "'");
  }

 private:
  Status Number(Token* t) {
    const size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
    bool real = false;
    if (pos_ + 1 < text_.size() && text_[pos_] == '.' &&
        std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
      real = true;
      ++pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
        ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      real = true;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
        ++pos_;
    }
    const std::string digits(text_.substr(start, pos_ - start));
    t->type = Tok::kNumber;
    t->number = json::parse(digits, nullptr, false);
    if (t->number.is_discarded() || (!real && !t->number.is_number_integer())) {
      return ErrorAt(t->column,
                     "'" + QuotePrefix(digits) + "' is not a number this language can hold");
    }
    return Status::Ok();
  }

  Status String(Token* t, char quote) {
    ++pos_;
    std::string raw = "\"";
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (c == '\\' && pos_ + 1 < text_.size()) {
        const char next = text_[pos_ + 1];
        if (next == '\'') {
          raw += '\'';
          pos_ += 2;
          continue;
        }
        raw += c;
        raw += next;
        pos_ += 2;
        continue;
      }
      if (c == '"') raw += '\\';
      raw += c;
      ++pos_;
    }
    if (pos_ >= text_.size()) return ErrorAt(t->column, "unterminated string");
    ++pos_;
    raw += '"';
    const json value = json::parse(raw, nullptr, false);
    if (value.is_discarded()) return ErrorAt(t->column, "invalid escape in string");
    t->type = Tok::kString;
    t->text = value.get<std::string>();
    return Status::Ok();
  }

  // $ or $/a/b/c: a JSON pointer (RFC 6901, ~0 and ~1 escapes) into the scope.
  Status Pointer(Token* t) {
    ++pos_;
    t->type = Tok::kPointer;
    while (pos_ < text_.size() && text_[pos_] == '/') {
      ++pos_;
      std::string token;
      while (pos_ < text_.size() && IsPointerChar(text_[pos_])) {
        if (text_[pos_] == '~') {
          if (pos_ + 1 >= text_.size() || (text_[pos_ + 1] != '0' && text_[pos_ + 1] != '1')) {
            return ErrorAt(pos_ + 1, "'~' in a pointer must be '~0' (for ~) or '~1' (for /)");
          }
          token += text_[pos_ + 1] == '0' ? '~' : '/';
          pos_ += 2;
          continue;
        }
        token += text_[pos_++];
      }
      t->pointer.push_back(token);
    }
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) {}

  Status Parse(NodePtr* out) {
    Status s = Advance();
    if (!s.ok()) return s;
    if (s = Or(out, 0); !s.ok()) return s;
    if (current_.type != Tok::kEnd) {
      return ErrorAt(current_.column,
                     "unexpected '" + Describe(current_) + "' after the expression");
    }
    return Status::Ok();
  }

 private:
  static std::string Describe(const Token& t) {
    switch (t.type) {
      case Tok::kEnd:
        return "end of expression";
      case Tok::kString:
        return "\"" + t.text + "\"";
      case Tok::kNumber:
        return t.number.dump();
      case Tok::kPointer:
        return "$";
      default:
        return t.text;
    }
  }

  bool IsPunct(std::string_view p) const {
    return current_.type == Tok::kPunct && current_.text == p;
  }

  Status Advance() { return lexer_.Next(&current_); }

  Status Expect(std::string_view p) {
    if (!IsPunct(p)) {
      return ErrorAt(current_.column,
                     "expected '" + std::string(p) + "', found '" + Describe(current_) + "'");
    }
    return Advance();
  }

  static NodePtr MakeBinary(const std::string& op, size_t column, NodePtr l, NodePtr r) {
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kBinary;
    n->op = op;
    n->column = column;
    n->children = {std::move(l), std::move(r)};
    n->height = HeightOver(n->children);
    return n;
  }

  using Level = Status (Parser::*)(NodePtr*, int);

  // One left-associative binary level: next (op next)*.
  Status Binary(NodePtr* out, int depth, std::initializer_list<std::string_view> ops, Level next) {
    Status s = (this->*next)(out, depth);
    if (!s.ok()) return s;
    while (true) {
      std::string op;
      for (std::string_view candidate : ops) {
        if (IsPunct(candidate)) op = std::string(candidate);
      }
      if (op.empty()) return Status::Ok();
      const size_t column = current_.column;
      if (s = Advance(); !s.ok()) return s;
      NodePtr right;
      if (s = (this->*next)(&right, depth); !s.ok()) return s;
      *out = MakeBinary(op, column, *out, right);
      if ((*out)->height > kMaxHeight) return TooTall(column);
    }
  }

  Status Or(NodePtr* out, int depth) { return Binary(out, depth, {"||"}, &Parser::And); }
  Status And(NodePtr* out, int depth) { return Binary(out, depth, {"&&"}, &Parser::Not); }

  Status Not(NodePtr* out, int depth) {
    if (!IsPunct("!")) return Comparison(out, depth);
    if (depth > kMaxDepth) return ErrorAt(current_.column, "expression nested too deeply");
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kUnary;
    n->op = "!";
    n->column = current_.column;
    Status s = Advance();
    if (!s.ok()) return s;
    NodePtr child;
    if (s = Not(&child, depth + 1); !s.ok()) return s;
    n->children = {child};
    n->height = HeightOver(n->children);
    *out = n;
    return Status::Ok();
  }

  Status Comparison(NodePtr* out, int depth) {
    Status s = Additive(out, depth);
    if (!s.ok()) return s;
    for (std::string_view op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!IsPunct(op)) continue;
      const size_t column = current_.column;
      if (s = Advance(); !s.ok()) return s;
      NodePtr right;
      if (s = Additive(&right, depth); !s.ok()) return s;
      *out = MakeBinary(std::string(op), column, *out, right);
      if ((*out)->height > kMaxHeight) return TooTall(column);
      break;
    }
    return Status::Ok();
  }

  Status Additive(NodePtr* out, int depth) {
    return Binary(out, depth, {"+", "-"}, &Parser::Multiplicative);
  }
  Status Multiplicative(NodePtr* out, int depth) {
    return Binary(out, depth, {"*", "/", "%"}, &Parser::Unary);
  }

  Status Unary(NodePtr* out, int depth) {
    if (!IsPunct("-")) return Postfix(out, depth);
    if (depth > kMaxDepth) return ErrorAt(current_.column, "expression nested too deeply");
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kUnary;
    n->op = "-";
    n->column = current_.column;
    Status s = Advance();
    if (!s.ok()) return s;
    NodePtr child;
    if (s = Unary(&child, depth + 1); !s.ok()) return s;
    n->children = {child};
    n->height = HeightOver(n->children);
    *out = n;
    return Status::Ok();
  }

  Status Postfix(NodePtr* out, int depth) {
    Status s = Primary(out, depth);
    if (!s.ok()) return s;
    while (IsPunct("[") || IsPunct(".")) {
      auto n = std::make_shared<Node>();
      n->column = current_.column;
      if (IsPunct("[")) {
        n->kind = Node::Kind::kIndex;
        if (s = Advance(); !s.ok()) return s;
        NodePtr index;
        if (s = Or(&index, depth + 1); !s.ok()) return s;
        if (s = Expect("]"); !s.ok()) return s;
        n->children = {*out, index};
      } else {
        n->kind = Node::Kind::kMember;
        if (s = Advance(); !s.ok()) return s;
        if (current_.type != Tok::kIdent) {
          return ErrorAt(current_.column, "expected a field name after '.'");
        }
        n->op = current_.text;
        n->children = {*out};
        if (s = Advance(); !s.ok()) return s;
      }
      n->height = HeightOver(n->children);
      if (n->height > kMaxHeight) return TooTall(n->column);
      *out = n;
    }
    return Status::Ok();
  }

  Status Primary(NodePtr* out, int depth) {
    if (depth > kMaxDepth) return ErrorAt(current_.column, "expression nested too deeply");
    auto n = std::make_shared<Node>();
    n->column = current_.column;
    Status s;
    switch (current_.type) {
      case Tok::kEnd:
        return ErrorAt(current_.column, "unexpected end of expression");
      case Tok::kNumber:
        n->kind = Node::Kind::kLiteral;
        n->literal = current_.number;
        break;
      case Tok::kString:
        n->kind = Node::Kind::kLiteral;
        n->literal = current_.text;
        break;
      case Tok::kPointer:
        n->kind = Node::Kind::kPointer;
        n->pointer = current_.pointer;
        break;
      case Tok::kIdent: {
        const std::string name = current_.text;
        if (name == "true" || name == "false" || name == "null") {
          n->kind = Node::Kind::kLiteral;
          n->literal = name == "null" ? json(nullptr) : json(name == "true");
          break;
        }
        if (!IsKnownFunction(name)) {
          return ErrorAt(current_.column, "unknown function '" + name + "' (see docs/dsl.md)");
        }
        n->kind = Node::Kind::kCall;
        n->op = name;
        if (s = Advance(); !s.ok()) return s;
        if (s = Expect("("); !s.ok()) return s;
        while (!IsPunct(")")) {
          NodePtr arg;
          if (s = Or(&arg, depth + 1); !s.ok()) return s;
          n->children.push_back(arg);
          n->height = std::max(n->height, arg->height + 1);
          if (!IsPunct(")") && (s = Expect(",")).ok() == false) return s;
        }
        if (s = CheckArity(name, n->children.size()); !s.ok())
          return ErrorAt(n->column, s.message());
        std::vector<const json*> literals;
        for (const auto& child : n->children) {
          literals.push_back(child->kind == Node::Kind::kLiteral ? &child->literal : nullptr);
        }
        size_t bad = 0;
        if (s = CheckLiteralArguments(name, literals, &bad); !s.ok()) {
          return ErrorAt(n->children[bad]->column, name + "(): " + s.message());
        }
        *out = n;
        return Advance();
      }
      case Tok::kPunct:
        if (IsPunct("(")) {
          if (s = Advance(); !s.ok()) return s;
          if (s = Or(out, depth + 1); !s.ok()) return s;
          return Expect(")");
        }
        if (IsPunct("[")) {
          n->kind = Node::Kind::kArray;
          if (s = Advance(); !s.ok()) return s;
          while (!IsPunct("]")) {
            NodePtr element;
            if (s = Or(&element, depth + 1); !s.ok()) return s;
            n->children.push_back(element);
            n->height = std::max(n->height, element->height + 1);
            if (!IsPunct("]") && (s = Expect(",")).ok() == false) return s;
          }
          *out = n;
          return Advance();
        }
        return ErrorAt(current_.column, "unexpected '" + current_.text + "'");
    }
    *out = n;
    return Advance();
  }

  Lexer lexer_;
  Token current_;
};

// ---- evaluation ----

class Evaluator {
 public:
  explicit Evaluator(const EvalContext& context)
      : context_(context), steps_left_(context.limits.max_steps) {}

  Status Eval(const Node& n, json* out) {
    if (--steps_left_ < 0) return ErrorAt(n.column, "evaluation took too many steps");
    switch (n.kind) {
      case Node::Kind::kLiteral:
        *out = n.literal;
        return Status::Ok();
      case Node::Kind::kPointer: {
        if (n.pointer.empty()) {
          *out = MergedScope(context_);
          return Status::Ok();
        }
        const json* v = nullptr;
        if (context_.overlay != nullptr) v = Child(context_.overlay, n.pointer[0]);
        if (v == nullptr) v = Child(context_.scope, n.pointer[0]);
        for (size_t i = 1; v != nullptr && i < n.pointer.size(); ++i)
          v = Child(v, n.pointer[i]);
        *out = v == nullptr ? json(nullptr) : *v;
        return Status::Ok();
      }
      case Node::Kind::kArray: {
        *out = json::array();
        for (const auto& child : n.children) {
          json v;
          if (Status s = Eval(*child, &v); !s.ok()) return s;
          out->push_back(std::move(v));
        }
        return Status::Ok();
      }
      case Node::Kind::kMember: {
        json base;
        if (Status s = Eval(*n.children[0], &base); !s.ok()) return s;
        if (base.is_null()) return *out = nullptr, Status::Ok();
        if (!base.is_object()) {
          return ErrorAt(n.column,
                         "'." + n.op + "' needs an object, not " + std::string(base.type_name()));
        }
        const auto it = base.find(n.op);
        *out = it == base.end() ? json(nullptr) : *it;
        return Status::Ok();
      }
      case Node::Kind::kIndex:
        return Index(n, out);
      case Node::Kind::kUnary:
        return UnaryOp(n, out);
      case Node::Kind::kBinary:
        return BinaryOp(n, out);
      case Node::Kind::kCall: {
        std::vector<json> args(n.children.size());
        for (size_t i = 0; i < n.children.size(); ++i) {
          if (Status s = Eval(*n.children[i], &args[i]); !s.ok()) return s;
        }
        FunctionContext fc{context_.now, context_.limits.max_value_bytes, &steps_left_,
                           context_.revision};
        Status s = CallFunction(n.op, args, fc, out);
        if (!s.ok()) return ErrorAt(n.column, n.op + "(): " + s.message());
        return Status::Ok();
      }
    }
    return ErrorAt(n.column, "unknown expression node");
  }

 private:
  static const json* Child(const json* v, const std::string& token) {
    if (v->is_object()) {
      const auto it = v->find(token);
      return it == v->end() ? nullptr : &*it;
    }
    if (v->is_array()) {
      if (token.empty() || token.size() > 9 ||
          token.find_first_not_of("0123456789") != std::string::npos) {
        return nullptr;
      }
      const size_t i = std::stoul(token);
      return i < v->size() ? &(*v)[i] : nullptr;
    }
    return nullptr;
  }

  Status Index(const Node& n, json* out) {
    json base, key;
    if (Status s = Eval(*n.children[0], &base); !s.ok()) return s;
    if (Status s = Eval(*n.children[1], &key); !s.ok()) return s;
    if (base.is_null()) return *out = nullptr, Status::Ok();
    if (base.is_array()) {
      if (!key.is_number_integer()) return ErrorAt(n.column, "an array index must be an integer");
      const int64_t i = key.get<int64_t>();
      *out = i >= 0 && static_cast<size_t>(i) < base.size() ? base[static_cast<size_t>(i)]
                                                            : json(nullptr);
      return Status::Ok();
    }
    if (base.is_object()) {
      if (!key.is_string()) return ErrorAt(n.column, "an object key must be a string");
      const auto it = base.find(key.get<std::string>());
      *out = it == base.end() ? json(nullptr) : *it;
      return Status::Ok();
    }
    return ErrorAt(n.column, "cannot index " + std::string(base.type_name()));
  }

  Status UnaryOp(const Node& n, json* out) {
    json v;
    if (Status s = Eval(*n.children[0], &v); !s.ok()) return s;
    if (n.op == "!") {
      if (!v.is_boolean())
        return ErrorAt(n.column, "'!' needs a boolean, not " + std::string(v.type_name()));
      *out = !v.get<bool>();
      return Status::Ok();
    }
    if (v.is_number_integer()) {
      const int64_t x = v.get<int64_t>();
      if (x == std::numeric_limits<int64_t>::min()) return ErrorAt(n.column, "integer overflow");
      *out = -x;
      return Status::Ok();
    }
    if (v.is_number()) return *out = -v.get<double>(), Status::Ok();
    return ErrorAt(n.column, "'-' needs a number, not " + std::string(v.type_name()));
  }

  Status BinaryOp(const Node& n, json* out) {
    json l;
    if (Status s = Eval(*n.children[0], &l); !s.ok()) return s;
    if (n.op == "&&" || n.op == "||") {
      if (!l.is_boolean()) {
        return ErrorAt(n.column,
                       "'" + n.op + "' needs booleans, not " + std::string(l.type_name()));
      }
      if ((n.op == "&&") != l.get<bool>()) return *out = l, Status::Ok();  // short circuit
      json r;
      if (Status s = Eval(*n.children[1], &r); !s.ok()) return s;
      if (!r.is_boolean()) {
        return ErrorAt(n.column,
                       "'" + n.op + "' needs booleans, not " + std::string(r.type_name()));
      }
      *out = r;
      return Status::Ok();
    }
    json r;
    if (Status s = Eval(*n.children[1], &r); !s.ok()) return s;
    if (n.op == "==") return *out = (l == r), Status::Ok();
    if (n.op == "!=") return *out = (l != r), Status::Ok();
    if (n.op == "<" || n.op == "<=" || n.op == ">" || n.op == ">=") return Compare(n, l, r, out);
    return Arithmetic(n, l, r, out);
  }

  Status Compare(const Node& n, const json& l, const json& r, json* out) {
    int order = 0;
    if (l.is_number() && r.is_number()) {
      const double a = l.get<double>(), b = r.get<double>();
      order = a < b ? -1 : (a > b ? 1 : 0);
    } else if (l.is_string() && r.is_string()) {
      const int c = l.get_ref<const std::string&>().compare(r.get_ref<const std::string&>());
      order = c < 0 ? -1 : (c > 0 ? 1 : 0);
    } else {
      return ErrorAt(n.column, "'" + n.op + "' compares two numbers or two strings, not " +
                                   l.type_name() + " and " + r.type_name());
    }
    if (n.op == "<") *out = order < 0;
    if (n.op == "<=") *out = order <= 0;
    if (n.op == ">") *out = order > 0;
    if (n.op == ">=") *out = order >= 0;
    return Status::Ok();
  }

  Status Arithmetic(const Node& n, const json& l, const json& r, json* out) {
    if (n.op == "+" && l.is_string() && r.is_string()) {
      const size_t size =
          l.get_ref<const std::string&>().size() + r.get_ref<const std::string&>().size();
      if (size > context_.limits.max_value_bytes) return ErrorAt(n.column, "string too long");
      *out = l.get<std::string>() + r.get<std::string>();
      return Status::Ok();
    }
    if (n.op == "+" && l.is_array() && r.is_array()) {
      if (l.size() + r.size() > context_.limits.max_value_bytes / 8)
        return ErrorAt(n.column, "array too long");
      *out = l;
      for (const auto& e : r)
        out->push_back(e);
      steps_left_ -= static_cast<int>(out->size());
      return Status::Ok();
    }
    if (!l.is_number() || !r.is_number()) {
      return ErrorAt(n.column, "'" + n.op + "' needs two numbers" +
                                   std::string(n.op == "+" ? ", two strings or two arrays" : "") +
                                   ", not " + l.type_name() + " and " + r.type_name());
    }
    if (l.is_number_integer() && r.is_number_integer()) {
      const int64_t a = l.get<int64_t>(), b = r.get<int64_t>();
      int64_t result = 0;
      bool overflow = false;
      if (n.op == "+") overflow = __builtin_add_overflow(a, b, &result);
      if (n.op == "-") overflow = __builtin_sub_overflow(a, b, &result);
      if (n.op == "*") overflow = __builtin_mul_overflow(a, b, &result);
      if (n.op == "%" || n.op == "/") {
        if (b == 0) return ErrorAt(n.column, "division by zero");
        if (a == std::numeric_limits<int64_t>::min() && b == -1)
          return ErrorAt(n.column, "integer overflow");
        if (n.op == "%") return *out = a % b, Status::Ok();
        if (a % b == 0) return *out = a / b, Status::Ok();
        return *out = static_cast<double>(a) / static_cast<double>(b), Status::Ok();
      }
      if (overflow) return ErrorAt(n.column, "integer overflow");
      *out = result;
      return Status::Ok();
    }
    if (n.op == "%") return ErrorAt(n.column, "'%' needs two integers");
    const double a = l.get<double>(), b = r.get<double>();
    double result = 0;
    if (n.op == "+") result = a + b;
    if (n.op == "-") result = a - b;
    if (n.op == "*") result = a * b;
    if (n.op == "/") {
      if (b == 0) return ErrorAt(n.column, "division by zero");
      result = a / b;
    }
    if (!std::isfinite(result)) return ErrorAt(n.column, "the result is not a finite number");
    *out = result;
    return Status::Ok();
  }

  const EvalContext& context_;
  int steps_left_;
};

}  // namespace

json MergedScope(const EvalContext& context) {
  json merged = context.scope != nullptr ? *context.scope : json::object();
  if (context.overlay != nullptr && context.overlay->is_object() && merged.is_object()) {
    for (const auto& [key, value] : context.overlay->items())
      merged[key] = value;
  }
  return merged;
}

Status Expression::Parse(std::string_view text, Expression* out) {
  if (text.size() > kMaxLength) {
    return Status::InvalidArgument("expression longer than " + std::to_string(kMaxLength) +
                                   " characters");
  }
  NodePtr root;
  Parser parser(text);
  Status s = parser.Parse(&root);
  if (!s.ok()) return s;
  out->text_ = std::string(text);
  out->root_ = std::move(root);
  return Status::Ok();
}

Status Expression::Evaluate(const EvalContext& context, json* out) const {
  static const json kEmpty = json::object();
  EvalContext c = context;
  if (c.scope == nullptr) c.scope = &kEmpty;
  Evaluator evaluator(c);
  return evaluator.Eval(*root_, out);
}

}  // namespace gridflow::dsl
