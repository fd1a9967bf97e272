package fakellm

import (
	"hash/fnv"
	"math"
	"net/http"
	"strconv"

	"timon.dev/timon/core/provider/internal/jsonw"
)

// DefaultDimensions is the size of the vectors fakellm answers when the
// request names none.
const DefaultDimensions = 8

// Vector is fakellm's embedding of text: deterministic, of unit length, a
// function of the text alone, so that a test can tell which text a vector
// was computed from.
func Vector(text string, dims int) []float64 {
	if dims <= 0 {
		dims = DefaultDimensions
	}
	v := make([]float64, dims)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		h.Write([]byte(strconv.Itoa(i)))
		h.Write([]byte{0})
		h.Write([]byte(text))
		v[i] = float64(h.Sum64()%2000)/1000 - 1
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	for i := range v {
		if norm > 0 {
			v[i] /= norm
		}
	}
	return v
}

// writeEmbeddings answers an embeddings request, OpenAI's shape.
func writeEmbeddings(w http.ResponseWriter, req *Request, reply *Reply) {
	model := reply.Model
	if model == "" {
		model = req.Model
	}
	n := 0
	for _, in := range req.Inputs {
		n += tokens(len(in))
	}
	b := []byte(`{"object":"list","data":[`)
	for i, in := range req.Inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":[`...)
		for j, x := range Vector(in, req.Dimensions) {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"model":`...)
	b = jsonw.AppendString(b, model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "}}"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
