// How Gridflow serves every gridflow.v1 method: on gRPC's callback API, from raw bytes.
//
//  - Requests are decoded here (request_decoder.h), so a string field that is not UTF-8 is
//    INVALID_ARGUMENT naming the field rather than gRPC's INTERNAL with no message.
//  - Every call is then authorized (engine/auth/authorizer.h) before its handler runs; the
//    handler finds who called in UnaryCall::caller(). A method without an access rule aborts
//    the start-up.
//  - No gRPC thread waits on the database. A handler answers at once (validation errors), or hands
//    the call to what answers it later: the RPC pool for bodies that block (RunOnPool), the task
//    dispatcher for long-polls, the transition committer for group-committed transitions.
//  - Whatever answers a call calls UnaryCall::Finish exactly once. Exceptions thrown by a body
//    become INTERNAL and are logged; none crosses into gRPC.
//
// A service class derives from CallbackService<v1::XService> and declares each method
// in its constructor with Unary<Request, Response>("Method", handler) (or ServerStream); every
// method of the service must be declared, which VerifyAllServed() checks at start-up.
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "common/work_pool.h"
#include "engine/api/proto_convert.h"
#include "engine/api/request_decoder.h"
#include "engine/auth/authorizer.h"

namespace gridflow::engine {

// One unary call: its decoded request, the response to fill, and the one answer.
template <typename Request, typename Response>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(const char* method, grpc::CallbackServerContext* context, grpc::ByteBuffer* out,
            Authorizer& authorizer)
      : method_(method), context_(context), out_(out), authorizer_(authorizer) {}

  const char* method() const { return method_; }
  grpc::CallbackServerContext& context() { return *context_; }
  Request& request() { return request_; }
  Response& response() { return response_; }
  // Who called, as authorized (set before the handler runs).
  const Caller& caller() const { return caller_; }
  Caller* mutable_caller() { return &caller_; }

  // Answers the call: the response when `status` is OK, the status alone otherwise. Only the
  // first call counts. The call may be gone as soon as this returns: touch nothing after it.
  void Finish(const Status& status) {
    if (finished_.exchange(true)) return;
    if (status.code() == StatusCode::kInternal) spdlog::error("{}: {}", method_, status.message());
    if (status.code() == StatusCode::kPermissionDenied) {
      authorizer_.Denied(method_, caller_, status.message());
    }
    if (status.ok()) EncodeMessage(response_, out_);
    grpc::ServerUnaryReactor::Finish(ToGrpcStatus(status));
  }

  // What to do when the caller goes away before the answer (a long-poll's clean-up). Set it before
  // the handler returns; it runs on a gRPC thread.
  void OnCancelled(std::function<void()> action) { on_cancel_ = std::move(action); }
  // Whether the caller went away (cancelled, deadline passed, connection lost) so far.
  bool cancelled() const { return cancelled_.load(); }
  // What to do when the answer did not reach the caller: it went away before gRPC could send it
  // (tasks the answer leased go back to their queue). Set it before Finish; it runs on a gRPC
  // thread and must not block.
  void OnUndelivered(std::function<void()> action) { on_undelivered_ = std::move(action); }

 private:
  void OnCancel() override {
    cancelled_ = true;
    if (on_cancel_) on_cancel_();
  }
  void OnDone() override {
    // IsCancelled: the call failed before its status reached the transport (a caller that
    // cancels after that may still drop the answer; a lease covers that last case).
    if (on_undelivered_ && context_->IsCancelled()) on_undelivered_();
    delete this;
  }

  const char* method_;
  grpc::CallbackServerContext* context_;
  grpc::ByteBuffer* out_;
  Authorizer& authorizer_;
  Caller caller_;
  Request request_;
  Response response_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> cancelled_{false};
  std::function<void()> on_cancel_;
  std::function<void()> on_undelivered_;
};

// A body run to completion on the RPC pool: returns the call's status, fills the response.
template <typename Request, typename Response>
using BlockingBody = std::function<Status(const Request&, Response*)>;

// Runs `body` on `pool` and answers `call` with what it returns. A call whose caller went away
// while it waited for a thread (its deadline passed, it was cancelled) is not run: the caller
// already holds its answer (DEADLINE_EXCEEDED, CANCELLED: not known whether it happened, retry),
// and work nobody waits for would only deepen the queue of a replica that is already behind —
// a worker's timed-out lease renewals, resent each round, would otherwise pile up.
template <typename Request, typename Response>
void RunOnPool(WorkPool& pool, UnaryCall<Request, Response>* call,
               BlockingBody<Request, Response> body) {
  const bool queued = pool.Submit([call, body = std::move(body)] {
    if (call->cancelled()) {
      call->Finish(Status(StatusCode::kCancelled,
                          "the caller went away before the call was served; nothing was done"));
      return;
    }
    Status status;
    try {
      status = body(call->request(), &call->response());
    } catch (const std::exception& e) {
      spdlog::error("{}: unexpected exception: {}", call->method(), e.what());
      status = Status::Internal(std::string(call->method()) + " failed unexpectedly");
    }
    call->Finish(status);
  });
  if (!queued) call->Finish(Status::Unavailable("this engine replica is shutting down; retry"));
}

template <typename Api>
class CallbackService : public Api::Service {
 protected:
  explicit CallbackService(Authorizer& authorizer) : authorizer_(authorizer) {}

  // `handler(UnaryCall<Request, Response>*)` runs on a gRPC thread once the request is decoded; it
  // must not block, and it arranges for the call to be finished exactly once.
  template <typename Request, typename Response, typename Handler>
  void Unary(const char* method, Handler handler) {
    const int index = MethodIndex(method, Request::descriptor(), Response::descriptor());
    this->MarkMethodRawCallback(
        index, new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                   [this, method, handler](grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
                     auto* call =
                         new UnaryCall<Request, Response>(method, context, out, authorizer_);
                     Status admitted = DecodeMessage(*in, &call->request());
                     if (admitted.ok()) {
                       admitted = authorizer_.Authorize(method, *context, call->request(),
                                                        call->mutable_caller());
                     }
                     if (!admitted.ok()) {
                       call->Finish(admitted);
                       return static_cast<grpc::ServerUnaryReactor*>(call);
                     }
                     try {
                       handler(call);
                     } catch (const std::exception& e) {
                       spdlog::error("{}: unexpected exception: {}", method, e.what());
                       call->Finish(Status::Internal(std::string(method) + " failed unexpectedly"));
                     }
                     return static_cast<grpc::ServerUnaryReactor*>(call);
                   }));
  }

  // A unary method whose body blocks (reads or writes the database): `(self->*body)(request,
  // &response)` runs on `pool`.
  template <typename Self, typename Request, typename Response>
  void UnaryOnPool(const char* method, WorkPool& pool, Self* self,
                   Status (Self::*body)(const Request&, Response*)) {
    Unary<Request, Response>(method, [&pool, self, body](UnaryCall<Request, Response>* call) {
      RunOnPool<Request, Response>(pool, call, [self, body](const Request& r, Response* out) {
        return (self->*body)(r, out);
      });
    });
  }
  // The same, for a body that needs to know who called (to record it, or to filter by it).
  template <typename Self, typename Request, typename Response>
  void UnaryOnPool(const char* method, WorkPool& pool, Self* self,
                   Status (Self::*body)(const Caller&, const Request&, Response*)) {
    Unary<Request, Response>(method, [&pool, self, body](UnaryCall<Request, Response>* call) {
      RunOnPool<Request, Response>(pool, call, [self, body, call](const Request& r, Response* out) {
        return (self->*body)(call->caller(), r, out);
      });
    });
  }

  // A server-streaming method: `handler(context, const Request&)` returns the stream's reactor
  // (writing serialized messages). A request that does not decode gets an ended stream.
  template <typename Request, typename Item, typename Handler>
  void ServerStream(const char* method, Handler handler) {
    const int index = MethodIndex(method, Request::descriptor(), Item::descriptor());
    this->MarkMethodRawCallback(
        index,
        new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
            [this, method, handler](
                grpc::CallbackServerContext* context,
                const grpc::ByteBuffer* in) -> grpc::ServerWriteReactor<grpc::ByteBuffer>* {
              Request request;
              const Status decoded = DecodeMessage(*in, &request);
              if (!decoded.ok()) return EndedStream(ToGrpcStatus(decoded));
              Caller caller;
              const Status allowed = authorizer_.Authorize(method, *context, request, &caller);
              if (!allowed.ok()) {
                authorizer_.Denied(method, caller, allowed.message());
                return EndedStream(ToGrpcStatus(allowed));
              }
              return handler(context, request);
            }));
  }

  // Aborts when a method of the service was not declared: it would be served synchronously (on
  // threads gRPC creates per call), which this engine never does.
  void VerifyAllServed() const {
    const auto* service = ServiceDescriptor();
    for (int i = 0; i < service->method_count(); ++i) {
      if (served_.count(i) == 0) {
        spdlog::critical("{}.{} has no callback handler", service->full_name(),
                         service->method(i)->name());
        std::abort();
      }
    }
  }

 public:
  // A stream that ends at once with `status`.
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* EndedStream(const grpc::Status& status) {
    class Ended final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
     public:
      explicit Ended(const grpc::Status& s) { Finish(s); }
      void OnDone() override { delete this; }
    };
    return new Ended(status);
  }

 private:
  static const google::protobuf::ServiceDescriptor* ServiceDescriptor() {
    return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
        Api::service_full_name());
  }

  // The method's index in the service; aborts on a name or type that does not match the proto
  // (a programming error found at start-up, never at run time).
  int MethodIndex(const char* name, const google::protobuf::Descriptor* request,
                  const google::protobuf::Descriptor* response) {
    const auto* service = ServiceDescriptor();
    const auto* method = service == nullptr ? nullptr : service->FindMethodByName(name);
    if (method == nullptr || method->input_type() != request || method->output_type() != response) {
      spdlog::critical("{}.{}: no such method with these message types", Api::service_full_name(),
                       name);
      std::abort();
    }
    if (!Authorizer::Knows(name)) {
      spdlog::critical("{}.{} has no access rule (engine/auth/authorizer.cc)",
                       Api::service_full_name(), name);
      std::abort();
    }
    served_.insert(method->index());
    return method->index();
  }

  Authorizer& authorizer_;
  std::set<int> served_;
};

}  // namespace gridflow::engine
