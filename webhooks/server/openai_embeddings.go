package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"timon.dev/timon/core"
)

// embeddingRequest is what timon reads of OpenAI's embeddings request.
type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

// embedding is one vector: a JSON array of floats, or with encoding_format
// base64 the little-endian float32 values, base64-encoded (what the npm
// client asks for by default).
type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type embeddingResponse struct {
	Object string         `json:"object"`
	Data   []embedding    `json:"data"`
	Model  string         `json:"model"`
	Usage  embeddingUsage `json:"usage"`
}

// embedInputs reads "input": a string or an array of strings. Token
// arrays are refused: the hub redacts text, which tokens would hide.
func embedInputs(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, invalidParam("input", "input is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalidParam("input", "input must be a string or an array of strings")
	}
	if len(list) == 0 {
		return nil, invalidParam("input", "input must hold at least one text")
	}
	out := make([]string, len(list))
	for i, item := range list {
		if err := json.Unmarshal(item, &out[i]); err != nil {
			return nil, unsupportedValue("input", "input[%d] is not a string: token arrays are not supported, send text", i)
		}
	}
	return out, nil
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	var body embeddingRequest
	if err := decodeOpenAI(r, embeddingParams, &body); err != nil {
		openAIError(w, r, err)
		return
	}
	inputs, err := embedInputs(body.Input)
	if err == nil {
		switch body.EncodingFormat {
		case "", "float", "base64":
		default:
			err = unsupportedValue("encoding_format", "encoding_format %q is not supported (float or base64)", body.EncodingFormat)
		}
	}
	if err == nil && body.Dimensions < 0 {
		err = invalidParam("dimensions", "dimensions must be a positive number")
	}
	if err != nil {
		openAIError(w, r, err)
		return
	}
	emb, ok := s.o.Assistant.(core.Embedder)
	if !ok {
		openAIError(w, r, core.Errorf(core.KindNotImplemented, "this hub does not serve embeddings"))
		return
	}
	req := &core.EmbedRequest{Principal: principal(r), Model: requestedModel(body.Model), Inputs: inputs, Dimensions: body.Dimensions}
	resp, err := emb.Embed(r.Context(), req)
	if err != nil {
		openAIError(w, r, s.assistError(req.Model, err))
		return
	}
	out := embeddingResponse{Object: "list", Model: resp.Model, Data: make([]embedding, len(resp.Vectors)),
		Usage: embeddingUsage{PromptTokens: resp.Usage.PromptTokens, TotalTokens: resp.Usage.PromptTokens}}
	for i, v := range resp.Vectors {
		out.Data[i] = embedding{Object: "embedding", Index: i, Embedding: v}
		if body.EncodingFormat == "base64" {
			out.Data[i].Embedding = base64Vector(v)
		}
	}
	w.Header().Set("X-Request-Id", resp.RequestID)
	writeJSON(w, http.StatusOK, out)
}

// base64Vector encodes v as OpenAI's base64 format: little-endian float32.
func base64Vector(v []float64) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// unsupportedValue refuses a value timon does not support.
func unsupportedValue(param, format string, args ...any) error {
	return &paramError{param: param, code: "unsupported_value", msg: "unsupported value: " + fmt.Sprintf(format, args...)}
}
