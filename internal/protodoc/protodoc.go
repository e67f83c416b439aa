// Package protodoc reads the byte examples out of docs/PROTOCOL.md, for the
// tests that hold the code to the text. Test helper only: nothing in the
// library imports it.
package protodoc

import (
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// dumpLine is one line of a hex dump: an optional 4-digit offset, bytes
// separated by single spaces, then (after two or more spaces) a comment.
var dumpLine = regexp.MustCompile(`^\s*(?:[0-9a-f]{4}  )?((?:[0-9a-f]{2}(?: |$))+)`)

// Dumps returns the bytes of every fenced block of the file at path whose
// every line is a hex dump line, in the order they appear. Blocks with an
// info string (see Tagged) are not among them.
func Dumps(path string) ([][]byte, error) {
	return dumps(path, "")
}

// Tagged returns the bytes of every fenced block of the file at path whose
// info string (the word after the opening fence, such as "sealed") is tag
// and whose every other line is a hex dump line, in the order they appear.
func Tagged(path, tag string) ([][]byte, error) {
	return dumps(path, tag)
}

// dumps reads the hex dumps of the blocks whose info string is tag ("":
// none).
func dumps(path, tag string) ([][]byte, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var dumps [][]byte
	blocks := strings.Split(string(doc), "```")
	for i := 1; i < len(blocks); i += 2 { // odd pieces are inside fences
		info, body, _ := strings.Cut(blocks[i], "\n")
		if strings.TrimSpace(info) != tag {
			continue
		}
		if tag == "" {
			body = blocks[i]
		}
		var b []byte
		isDump := true
		for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
			m := dumpLine.FindStringSubmatch(line)
			if m == nil {
				isDump = false
				break
			}
			raw, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
			if err != nil {
				return nil, fmt.Errorf("block %d: %q: %w", i/2, line, err)
			}
			b = append(b, raw...)
		}
		if isDump && len(b) > 0 {
			dumps = append(dumps, b)
		}
	}
	return dumps, nil
}
