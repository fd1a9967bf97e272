package console

import (
	"net/http"
	"os"
)

var frCookie = http.Cookie{Name: langCookie, Value: "fr"}

func readSource(name string) (string, error) {
	b, err := os.ReadFile(name)
	return string(b), err
}
