#include "ir/FusedProgram.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace kiln {

namespace {

/// The float attributes an op keeps in brackets, in order.
std::vector<const char *> float_params(OpKind op) {
  if (op_family(op) != OpFamily::Unary)
    return {}; // binary steps have no attributes
  switch (family_op<OpFamily::Unary>(op)) {
  case UnaryOp::LeakyRelu: return {"alpha"};
  case UnaryOp::HardSigmoid: return {"alpha", "beta"};
  case UnaryOp::Clip: return {"min", "max"};
  case UnaryOp::Relu:
  case UnaryOp::Sigmoid:
  case UnaryOp::Tanh:
  case UnaryOp::Exp:
  case UnaryOp::Log:
  case UnaryOp::Sqrt:
  case UnaryOp::Erf:
  case UnaryOp::Neg:
  case UnaryOp::Abs:
  case UnaryOp::Floor:
  case UnaryOp::Ceil:
  case UnaryOp::Round:
  case UnaryOp::Reciprocal:
  case UnaryOp::Softplus:
  case UnaryOp::HardSwish:
  case UnaryOp::Not:
  case UnaryOp::Cast: return {};
  }
  KILN_ASSERT(false, "float_params: not a UnaryOp");
}

bool is_binary(OpKind op) { return op_family(op) == OpFamily::Binary; }

std::string format_double(double v) {
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

[[noreturn]] void bad(const std::string &text, const std::string &why) {
  throw Error("FusedElementwise: program \"" + text + "\": " + why);
}

} // namespace

std::string format_fused_program(const std::vector<FusedStep> &steps) {
  std::string s;
  for (size_t k = 0; k < steps.size(); ++k) {
    const FusedStep &st = steps[k];
    s += (k ? ";" : "") + std::string(op_name(st.op)) + "(";
    for (size_t a = 0; a < st.args.size(); ++a) {
      int v = st.args[a];
      s += (a ? "," : "") + (v >= 0 ? "i" + std::to_string(v) : "t" + std::to_string(-v - 1));
    }
    s += ")";
    std::vector<const char *> ps = float_params(st.op);
    if (!ps.empty()) {
      s += "[";
      for (size_t p = 0; p < ps.size(); ++p)
        s += (p ? "," : "") + format_double(st.attrs.f(ps[p]));
      s += "]";
    }
  }
  return s;
}

std::vector<FusedStep> parse_fused_program(const std::string &text, size_t num_inputs) {
  std::vector<FusedStep> steps;
  std::vector<bool> used_step, used_input(num_inputs, false);
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string item = text.substr(pos, end - pos);
    pos = end + 1;
    size_t open = item.find('('), close = item.find(')');
    if (open == std::string::npos || close == std::string::npos || close < open)
      bad(text, "step '" + item + "' is not Op(args)");
    std::optional<OpKind> op = parse_op(item.substr(0, open));
    if (!op || !has_trait(*op, OpTrait::EwFusable))
      bad(text, "'" + item.substr(0, open) + "' is not a fusable elementwise op");
    FusedStep st;
    st.op = *op;
    std::string args = item.substr(open + 1, close - open - 1);
    size_t ap = 0;
    while (ap <= args.size()) {
      size_t comma = args.find(',', ap);
      if (comma == std::string::npos)
        comma = args.size();
      std::string a = args.substr(ap, comma - ap);
      ap = comma + 1;
      int idx = -1;
      if (a.size() < 2 || (a[0] != 'i' && a[0] != 't') ||
          std::from_chars(a.data() + 1, a.data() + a.size(), idx).ptr != a.data() + a.size() ||
          idx < 0)
        bad(text, "bad operand '" + a + "'");
      if (a[0] == 'i') {
        if (static_cast<size_t>(idx) >= num_inputs)
          bad(text, "operand '" + a + "' is past the " + std::to_string(num_inputs) + " inputs");
        used_input[idx] = true;
        st.args.push_back(idx);
      } else {
        if (static_cast<size_t>(idx) >= steps.size())
          bad(text, "operand '" + a + "' is not an earlier step");
        used_step[idx] = true;
        st.args.push_back(-idx - 1);
      }
    }
    if (st.args.size() != (is_binary(st.op) ? 2u : 1u))
      bad(text, "step '" + item + "' has the wrong number of operands");
    std::vector<const char *> ps = float_params(st.op);
    std::string rest = item.substr(close + 1);
    if (ps.empty() != rest.empty())
      bad(text, "step '" + item + "' has wrong attributes");
    if (!ps.empty()) {
      if (rest.front() != '[' || rest.back() != ']')
        bad(text, "step '" + item + "' has malformed attributes");
      std::string list = rest.substr(1, rest.size() - 2);
      size_t lp = 0;
      for (size_t p = 0; p < ps.size(); ++p) {
        size_t comma = list.find(',', lp);
        if ((comma == std::string::npos) != (p + 1 == ps.size()))
          bad(text, "step '" + item + "' needs " + std::to_string(ps.size()) + " attributes");
        if (comma == std::string::npos)
          comma = list.size();
        std::string num = list.substr(lp, comma - lp);
        lp = comma + 1;
        char *stop = nullptr;
        double v = std::strtod(num.c_str(), &stop);
        if (num.empty() || *stop != '\0')
          bad(text, "bad number '" + num + "'");
        st.attrs.set(ps[p], v);
      }
    }
    steps.push_back(std::move(st));
    used_step.push_back(false);
  }
  if (steps.empty())
    bad(text, "no steps");
  for (size_t k = 0; k + 1 < steps.size(); ++k)
    if (!used_step[k])
      bad(text, "step " + std::to_string(k) + " is never used");
  for (size_t i = 0; i < num_inputs; ++i)
    if (!used_input[i])
      bad(text, "input " + std::to_string(i) + " is never used");
  return steps;
}

} // namespace kiln
