// The Thrift interface of `workbench serve --thrift-port PORT`.
//
// Transport: framed; protocol: binary (strict). Build a client from this file, for example
// with thriftpy2:
//
//     wb = thriftpy2.load("workbench.thrift", module_name="workbench_thrift")
//     client = thriftpy2.rpc.make_client(wb.Predictor, host, port,
//                                        trans_factory=TFramedTransportFactory())
//
// The server refuses a frame larger than its --max-body, a string longer than 65536 bytes
// and a list or map of more than 65536 entries; it checks rows exactly as the HTTP API does
// and answers with the same messages.

namespace py workbench_thrift

// A class label or a prediction, exactly as the model gives it: an integer class is
// `integer`, a string class `text` (the HTTP API gives the same values as JSON numbers
// and strings). A feedback label may be any of them: it is compared as text, so
// `integer = 2`, `number = 2.0` and `text = "2"` all name the class 2.
union Label {
  1: i64 integer,
  2: double number,
  3: string text,
  4: bool flag,
}

struct PredictRequest {
  1: required string model,
  // exactly one of `instances` (rows of numbers in the model's feature order) or `records`
  // (feature: number), as in the HTTP API; NaN means missing and is accepted only by models
  // that handle missing values
  2: optional list<list<double>> instances,
  3: optional list<map<string, double>> records,
  // keeps a caller on one arm when the model is A/B tested
  4: optional string routing_key,
}

struct PredictResponse {
  1: required string model,
  2: required i64 version,
  3: required list<Label> predictions,
  // one {class as text: probability} per row; unset for a model without predict_proba
  4: optional list<map<string, double>> probabilities,
  5: required list<string> request_ids,
  // the arm that answered, when the model is A/B tested
  6: optional string arm,
}

struct FeedbackRequest {
  1: required string model,
  2: required list<string> request_ids,
  3: required list<Label> labels,
  // the server's write token (the one HTTP takes as `Authorization: Bearer TOKEN`)
  4: required string token,
}

struct FeedbackResponse {
  1: required i64 accepted,
  2: required i64 unknown,
  3: required i64 duplicate,
}

struct ModelInfo {
  1: required string name,
  2: required i64 version,
  3: required string stage,
  4: required i64 n_features,
  5: required list<string> feature_names,
  6: required list<Label> classes,
  7: required bool handles_missing_values,
  8: required map<string, double> metrics,
  9: required string created_at,
  // what answers: "sklearn", or "onnxruntime" for a version with a verified ONNX rendering
  10: required string engine,
}

// A model name this server does not serve; the message lists the served ones.
exception UnknownModel {
  1: string message,
  2: string hint,
}

// A request that is not what the model takes; `status` is the HTTP status the same
// refusal gets (422 bad rows or labels, 413 more rows than --max-rows).
exception BadInput {
  1: string message,
  2: string hint,
  3: i32 status,
}

// Feedback without the server's token, or with a wrong one.
exception Unauthorized {
  1: string message,
  2: string hint,
}

// The model store could not answer; retry.
exception Unavailable {
  1: string message,
  2: string hint,
}

service Predictor {
  PredictResponse predict(1: PredictRequest request)
    throws (1: UnknownModel unknown_model, 2: BadInput bad_input, 3: Unavailable unavailable),

  FeedbackResponse feedback(1: FeedbackRequest request)
    throws (1: UnknownModel unknown_model, 2: BadInput bad_input, 3: Unauthorized unauthorized,
            4: Unavailable unavailable),

  // every served model and the version answering for it, sorted by name
  list<ModelInfo> models() throws (1: Unavailable unavailable),
}
