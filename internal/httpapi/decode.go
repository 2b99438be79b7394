package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
)

// decodeJSON reads the request body into v: one JSON object, no unknown
// fields, nothing after it, at most MaxBodyBytes.
func decodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "request body is empty").WithHint("send a JSON object")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return cleanroom.Errorf(cleanroom.EInvalid, "request body has data after the JSON object")
		}
		if _, err := dec.Token(); err != io.EOF {
			return cleanroom.Errorf(cleanroom.EInvalid, "request body has data after the JSON object")
		}
		return nil
	}
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return cleanroom.Errorf(cleanroom.ETooLarge, "request body is larger than %d bytes", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return cleanroom.Errorf(cleanroom.EInvalid, "request body is empty").WithHint("send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cleanroom.Errorf(cleanroom.EInvalid, "request body is truncated JSON")
	case errors.As(err, &syntaxErr):
		return cleanroom.Errorf(cleanroom.EInvalid, "request body is not valid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return cleanroom.Errorf(cleanroom.EInvalid, "request body must be a JSON object, not %s", typeErr.Value)
		}
		return cleanroom.Errorf(cleanroom.EInvalid, "field %q must be %s, not %s", field, jsonType(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return cleanroom.Errorf(cleanroom.EInvalid, "unknown field %s in request body", name).
			WithHint("the request's fields are listed in /api/v1/openapi.json")
	}
	return cleanroom.Errorf(cleanroom.EInvalid, "request body: %s", err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// decodeInto returns a route decoder that reads the body into a fresh T and
// stores it with set.
func decodeInto[T any](set func(c *call, v *T) error) func(c *call) error {
	return func(c *call) error {
		v := new(T)
		if err := decodeJSON(c.r, v); err != nil {
			return err
		}
		return set(c, v)
	}
}

func requestedField(name, value string) error {
	if value == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "field %q is required", name)
	}
	return nil
}
