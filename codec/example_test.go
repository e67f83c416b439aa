package codec_test

import (
	"fmt"

	"github.com/antnet-p2p/antnet/codec"
)

func ExampleDecode() {
	stream := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 7, Payload: []byte("hi")})
	stream = codec.Append(stream, codec.Frame{Kind: codec.KindNotice, Payload: []byte("note")})
	stream = stream[:len(stream)-2] // the second frame has not fully arrived
	for {
		f, n, err := codec.Decode(stream, 0)
		if err != nil {
			fmt.Println("close the connection:", err)
			return
		}
		if n == 0 {
			fmt.Println("wait for more bytes:", len(stream), "buffered")
			return
		}
		fmt.Printf("%s id=%d %q\n", f.Kind, f.ID, f.Payload)
		stream = stream[n:]
	}
	// Output:
	// request id=7 "hi"
	// wait for more bytes: 18 buffered
}
