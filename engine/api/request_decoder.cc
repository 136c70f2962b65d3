#include "engine/api/request_decoder.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <map>
#include <vector>

#include "common/utf8.h"

namespace gridflow::engine {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

constexpr int kMaxNesting = 32;

// Walks the wire format of one message; stops at the first invalid string (path in *bad) or at
// bytes that are not a message (returns false, *bad empty).
bool Walk(const Descriptor& type, CodedInputStream& in, const std::string& prefix, int depth,
          std::string* bad) {
  std::map<int, int> seen;  // repeated fields: elements read so far
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return true;  // the end (of the message or of its limit)
    const FieldDescriptor* field = type.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    const bool length_delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (field == nullptr || !length_delimited ||
        (field->type() != FieldDescriptor::TYPE_STRING &&
         field->type() != FieldDescriptor::TYPE_MESSAGE)) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return false;
    std::string path = prefix + field->name();
    if (field->is_repeated()) path += "[" + std::to_string(seen[field->number()]++) + "]";
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      std::string value;
      if (!in.ReadString(&value, static_cast<int>(length))) return false;
      if (!IsValidUtf8(value)) {
        *bad = path;
        return false;
      }
      continue;
    }
    if (depth >= kMaxNesting) {
      if (!in.Skip(static_cast<int>(length))) return false;
      continue;
    }
    const CodedInputStream::Limit limit = in.PushLimit(static_cast<int>(length));
    if (!Walk(*field->message_type(), in, path + ".", depth + 1, bad)) return false;
    if (!in.ConsumedEntireMessage()) return false;
    in.PopLimit(limit);
  }
}

}  // namespace

std::string FindInvalidUtf8(const Descriptor& type, std::string_view bytes) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  std::string bad;
  Walk(type, in, "", 0, &bad);
  return bad;
}

Status DecodeMessage(const grpc::ByteBuffer& bytes, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  if (!bytes.Dump(&slices).ok()) return Status::InvalidArgument("the request could not be read");
  std::string joined;
  std::string_view data;
  if (slices.size() == 1) {
    data = std::string_view(reinterpret_cast<const char*>(slices[0].begin()), slices[0].size());
  } else {
    for (const grpc::Slice& slice : slices)
      joined.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    data = joined;
  }
  if (out->ParseFromArray(data.data(), static_cast<int>(data.size()))) return Status::Ok();
  const std::string field = FindInvalidUtf8(*out->GetDescriptor(), data);
  if (!field.empty()) {
    return Status::InvalidArgument(field +
                                   ": is not valid UTF-8 (text fields must be UTF-8; encode "
                                   "binary data, e.g. in base64)");
  }
  return Status::InvalidArgument("the request is not a valid " + out->GetTypeName() + " message");
}

void EncodeMessage(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  grpc::Slice slice(message.SerializeAsString());
  *out = grpc::ByteBuffer(&slice, 1);
}

}  // namespace gridflow::engine
