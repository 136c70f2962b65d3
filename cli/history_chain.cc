#include "cli/history_chain.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>

namespace gridflow::cli {
namespace {

const std::string kZeroLink(64, '0');

std::string Field(const std::string& text) {
  return std::to_string(text.size()) + ":" + text;
}

std::string ToHex(const unsigned char* bytes, size_t size) {
  static const char* kDigits = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0x0F]);
  }
  return hex;
}

bool FromHex(const std::string& hex, std::string* bytes) {
  if (hex.size() % 2 != 0) return false;
  bytes->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int value = 0;
    for (size_t j = i; j < i + 2; ++j) {
      const char c = hex[j];
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return false;
      value = value * 16 + digit;
    }
    bytes->push_back(static_cast<char>(value));
  }
  return true;
}

}  // namespace

std::string ChainLink(const std::string& previous_hex, const std::string& run_id,
                      const v1::Event& e) {
  std::string input;
  FromHex(previous_hex.empty() ? kZeroLink : previous_hex, &input);
  input +=
      Field(run_id) + Field(std::to_string(e.sequence())) + Field(e.type()) + Field(e.step()) +
      Field(e.task_id()) + Field(e.attempt() == 0 ? "" : std::to_string(e.attempt())) +
      Field(e.actor()) + Field(e.iteration()) +
      Field(std::to_string(google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.time()))) +
      Field(e.payload_json());
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  return ToHex(digest.data(), digest.size());
}

ChainVerdict VerifyChain(const std::string& run_id, const std::string& history_head,
                         int64_t history_length, const std::vector<v1::Event>& events) {
  ChainVerdict v;
  std::string link;  // "" until the first hashed event: the chain starts from zero there
  for (const v1::Event& e : events) {
    ++v.events;
    const auto broken = [&](const std::string& problem) {
      v.broken_at = v.events;
      v.problem = problem;
      return v;
    };
    if (e.sequence() != v.events) {
      return broken("expected event " + std::to_string(v.events) + ", found event " +
                    std::to_string(e.sequence()) + " (an event was deleted or inserted)");
    }
    if (e.hash().empty()) {
      if (v.first_linked_seq != 0) return broken("event has no hash inside the chain");
      continue;  // recorded before the chain existed (migration 0008)
    }
    if (v.first_linked_seq == 0) v.first_linked_seq = e.sequence();
    const std::string expected = ChainLink(link, run_id, e);
    if (expected != e.hash()) {
      return broken(
          "hash does not match the event's content and its predecessor's hash (the "
          "event, or one before it, was altered)");
    }
    link = expected;
  }
  if (v.events != history_length) {
    v.broken_at = std::min(v.events, history_length) + 1;
    v.problem = "the run records " + std::to_string(history_length) + " events, the history has " +
                std::to_string(v.events);
    return v;
  }
  if (link != history_head) {
    v.broken_at = v.events;
    v.problem = "the last event's hash is not the run's history head";
    return v;
  }
  v.intact = true;
  return v;
}

}  // namespace gridflow::cli
