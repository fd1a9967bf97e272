package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"go.lsp.dev/jsonrpc2"
)

// Framing limits.
const (
	// maxFrame bounds a message's body; a larger one is skipped (its
	// bytes are read and dropped) and answered with an error.
	maxFrame = 64 << 20
	// maxHeaderLine bounds a header line kept in memory; of a longer one
	// (garbage) only the tail is kept, where the next header would be.
	maxHeaderLine = 8 << 10
)

// tolerantStream is the LSP base-protocol framing of go.lsp.dev/jsonrpc2,
// whose connection ends at the first frame it cannot read, made to carry
// on: a header without a valid Content-Length, a body that is not JSON or
// not a JSON-RPC message is answered with an error (-32700 parse error or
// -32600 invalid request, id null when none can be read) and the reading
// goes on at the next header. Only the end of the input ends it. Writing
// is the library's.
type tolerantStream struct {
	out  jsonrpc2.Stream // the library's stream, for writing
	in   *bufio.Reader
	log  *slog.Logger
	line []byte
	body []byte
}

// frameWriter is the library's raw frame writer (its streams have it).
type frameWriter interface {
	WriteFrame(ctx context.Context, data []byte) (int64, error)
}

func newTolerantStream(rwc io.ReadWriteCloser, log *slog.Logger) *tolerantStream {
	return &tolerantStream{out: jsonrpc2.NewHeaderStream(rwc), in: bufio.NewReaderSize(rwc, 64<<10), log: log}
}

// Read implements jsonrpc2.Stream.
func (s *tolerantStream) Read(ctx context.Context) (jsonrpc2.Message, int64, error) {
	for {
		body, n, err := s.ReadFrame(ctx)
		if err != nil {
			return nil, 0, err
		}
		msg, err := jsonrpc2.DecodeMessage(body)
		if err == nil {
			return msg, n, nil
		}
		s.refuse(ctx, body, err) // unreachable: ReadFrame checked it
	}
}

// ReadFrame returns the body of the next frame that holds a JSON-RPC
// message (or a batch of them), answering the others.
func (s *tolerantStream) ReadFrame(ctx context.Context) ([]byte, int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		length, hdr, err := s.readHeader(ctx)
		if err != nil {
			return nil, 0, err
		}
		if length > maxFrame {
			if _, err := io.CopyN(io.Discard, s.in, int64(length)); err != nil {
				return nil, 0, unexpected(err)
			}
			s.reply(ctx, nil, jsonrpc2.InvalidRequest, fmt.Sprintf("message of %d bytes is over the limit of %d", length, maxFrame))
			continue
		}
		if cap(s.body) < length {
			s.body = make([]byte, length)
		}
		body := s.body[:length]
		if _, err := io.ReadFull(s.in, body); err != nil {
			return nil, 0, unexpected(err)
		}
		if ok := s.check(ctx, body); !ok {
			continue
		}
		return body, int64(hdr + length), nil
	}
}

// check reports whether body is a message the connection can take, and
// answers it otherwise.
func (s *tolerantStream) check(ctx context.Context, body []byte) bool {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if !json.Valid(body) {
			s.refuse(ctx, body, errors.New("not JSON"))
			return false
		}
		if _, err := jsonrpc2.ParseRequests(body); err != nil {
			s.refuse(ctx, body, err)
			return false
		}
		return true
	}
	if _, err := jsonrpc2.DecodeMessage(body); err != nil {
		s.refuse(ctx, body, err)
		return false
	}
	return true
}

// refuse answers a body the connection cannot take: a parse error when it
// is not JSON, an invalid request (with its id when it has one) otherwise.
func (s *tolerantStream) refuse(ctx context.Context, body []byte, err error) {
	if !json.Valid(body) {
		s.log.Warn("a message is not JSON; answered with a parse error", "bytes", len(body))
		s.reply(ctx, nil, jsonrpc2.ParseError, "parse error: the message is not JSON")
		return
	}
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	var id json.RawMessage
	if json.Unmarshal(body, &v) == nil && len(v.ID) > 0 {
		switch v.ID[0] {
		case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			id = v.ID
		}
	}
	s.log.Warn("a message is not a JSON-RPC message; answered with an invalid request error", "bytes", len(body), "err", err)
	s.reply(ctx, id, jsonrpc2.InvalidRequest, "invalid request: not a JSON-RPC 2.0 message")
}

// reply writes an error response; a nil id is null.
func (s *tolerantStream) reply(ctx context.Context, id json.RawMessage, code jsonrpc2.Code, msg string) {
	if id == nil {
		id = json.RawMessage("null")
	}
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	}{int64(code), msg}})
	if err != nil {
		return
	}
	fw, ok := s.out.(frameWriter)
	if !ok {
		return
	}
	if _, err := fw.WriteFrame(ctx, b); err != nil {
		s.log.Debug("error response not delivered", "err", err)
	}
}

// readHeader reads header lines up to the blank line that ends a header
// block with a valid Content-Length, and returns that length and the
// bytes read. Anything else on the way (a missing or malformed length,
// lines that are no header, the rest of a body shorter or longer than its
// length said) is skipped and answered once with a parse error; a
// Content-Length field after garbage on the same line starts a header.
func (s *tolerantStream) readHeader(ctx context.Context) (length, read int, err error) {
	have, reported, inHeader := false, false, false
	report := func() {
		if !reported {
			reported = true
			s.log.Warn("malformed message header; answered with a parse error and skipped to the next header")
			s.reply(ctx, nil, jsonrpc2.ParseError, "parse error: malformed message header (a Content-Length header, a blank line, then a JSON body)")
		}
	}
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && read > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, err
		}
		read += len(line)
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			switch {
			case have: // after garbage too: it was answered
				return length, read, nil
			case inHeader:
				report() // a header block without a valid length
			}
			inHeader = false
			continue
		}
		if i := indexFold(t, "content-length:"); i >= 0 {
			if i > 0 {
				report() // garbage, then a new header
			}
			n, err := strconv.Atoi(string(bytes.TrimSpace(t[i+len("content-length:"):])))
			inHeader = true
			if err != nil || n <= 0 || n > 1<<30 {
				have = false
				report()
				continue
			}
			length, have = n, true
			continue
		}
		if inHeader && isHeaderField(t) {
			continue // Content-Type and others
		}
		have, inHeader = false, false
		report()
	}
}

// readLine reads one line, keeping only the tail of a very long one.
func (s *tolerantStream) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		chunk, err := s.in.ReadSlice('\n')
		s.line = append(s.line, chunk...)
		if len(s.line) > maxHeaderLine {
			n := copy(s.line, s.line[len(s.line)-maxHeaderLine/2:])
			s.line = s.line[:n]
		}
		switch {
		case err == nil:
			return s.line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(s.line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// isHeaderField reports whether line looks like "Name: value".
func isHeaderField(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	for _, c := range line[:i] {
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// indexFold is the index of the lower-case ASCII word in b, whatever its
// case, -1 if absent.
func indexFold(b []byte, word string) int {
	for i := 0; i+len(word) <= len(b); i++ {
		j := 0
		for ; j < len(word); j++ {
			c := b[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
		}
		if j == len(word) {
			return i
		}
	}
	return -1
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Write implements jsonrpc2.Stream.
func (s *tolerantStream) Write(ctx context.Context, msg jsonrpc2.Message) (int64, error) {
	return s.out.Write(ctx, msg)
}

// WriteFrame writes an encoded body as one frame (batch answers).
func (s *tolerantStream) WriteFrame(ctx context.Context, data []byte) (int64, error) {
	fw, ok := s.out.(frameWriter)
	if !ok {
		return 0, errors.New("lsp: the stream cannot write raw frames")
	}
	return fw.WriteFrame(ctx, data)
}

// Close implements jsonrpc2.Stream.
func (s *tolerantStream) Close() error { return s.out.Close() }
