package etcdapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gatewayErrorBody is the JSON of a failed gateway call: the gRPC status,
// as etcd's gateway answers it ({"code": 11, "message": "etcdserver: mvcc:
// required revision has been compacted"}), and the message again as
// "error", as etcd's gateway answered it before 3.6 (grpc-gateway v1), so
// that tools written for either find what they look for.
type gatewayErrorBody struct {
	Error   string `json:"error"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// gatewayError answers a failed unary call (or a stream that fails before
// its first answer is sent) with the HTTP status grpc-gateway maps from
// the gRPC code: InvalidArgument, OutOfRange and FailedPrecondition 400,
// Unauthenticated 401, PermissionDenied 403, NotFound 404,
// ResourceExhausted 429, Unimplemented 501, Unavailable 503,
// DeadlineExceeded 504, Internal and DataLoss 500. A request that decodes
// to no route is a 404 (grpc-gateway's routing error), a body that is not
// JSON a 400.
func gatewayError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	httpStatus := 0
	var routing *runtime.HTTPStatusError
	if errors.As(err, &routing) {
		httpStatus, err = routing.HTTPStatus, routing.Err
	}
	st := status.Convert(err)
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(st.Code())
	}
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", "application/json")
	if st.Code() == codes.Unauthenticated {
		h.Set("WWW-Authenticate", st.Message()) // as grpc-gateway's own handler
	}
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(gatewayErrorBody{Error: st.Message(), Code: int(st.Code()), Message: st.Message()})
}
