package secure_test

import (
	"fmt"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/secure"
)

// The three messages of Noise XX, then a sealed frame opened on the other side.
func ExampleHandshake() {
	alice, _ := secure.Generate()
	bob, _ := secure.Generate()
	dialer, _ := secure.NewHandshake(alice, true)
	acceptor, _ := secure.NewHandshake(bob, false)

	m1, _ := dialer.Start()
	m2, _, _ := acceptor.Read(0, m1)
	m3, aliceSide, _ := dialer.Read(acceptor.Cipher(), m2) // the cipher travels in m2's frame flags
	_, bobSide, _ := acceptor.Read(0, m3)

	sealed, _ := aliceSide.SealFrames(nil, codec.Append(nil, codec.Frame{Kind: codec.KindNotice, Payload: []byte("psst")}))
	f, _, _ := codec.Decode(sealed, 0)
	err := bobSide.Open(&f)
	fmt.Printf("%q %v, bob knows alice: %v\n", f.Payload, err, string(bobSide.Peer) == string(alice.Public()))
	// Output: "psst" <nil>, bob knows alice: true
}
