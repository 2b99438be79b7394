package blind

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test vector %q: %v", s, err)
	}
	return b
}

func mustScalar(t *testing.T, s string) *ristretto255.Scalar {
	t.Helper()
	k := ristretto255.NewScalar()
	if err := k.Decode(mustHex(t, s)); err != nil {
		t.Fatalf("scalar %s: %v", s, err)
	}
	return k
}

func mustToken(t *testing.T, s string) Token {
	t.Helper()
	var tok Token
	if n := copy(tok[:], mustHex(t, s)); n != len(tok) {
		t.Fatalf("token %s is %d bytes", s, n)
	}
	return tok
}

// RFC 9380, appendix K.3: expand_message_xmd(SHA-512).
func TestExpandXMDSHA512(t *testing.T) {
	const dst = "QUUX-V01-CS02-with-expander-SHA512-256"
	q128 := "q128_" + strings.Repeat("q", 128)
	a512 := "a512_" + strings.Repeat("a", 512)
	tests := []struct {
		msg  string
		n    int
		want string
	}{
		{"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"},
		{"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"},
		{"abcdef0123456789", 0x20, "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58"},
		{q128, 0x20, "7336234ee9983902440f6bc35b348352013becd88938d2afec44311caf8356b3"},
		{a512, 0x20, "57b5f7e766d5be68a6bfe1768e3c2b7f1228b3e4b3134956dd73a59b954c66f4"},
		{"", 0x80, "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7eb00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"},
		{"abc", 0x80, "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb1347ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b488431851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"},
		{"abcdef0123456789", 0x80, "3f721f208e6199fe903545abc26c837ce59ac6fa45733f1baaf0222f8b7acb0424814fcb5eecf6c1d38f06e9d0a6ccfbf85ae612ab8735dfdf9ce84c372a77c8f9e1c1e952c3a61b7567dd0693016af51d2745822663d0c2367e3f4f0bed827feecc2aaf98c949b5ed0d35c3f1023d64ad1407924288d366ea159f46287e61ac"},
		{q128, 0x80, "b799b045a58c8d2b4334cf54b78260b45eec544f9f2fb5bd12fb603eaee70db7317bf807c406e26373922b7b8920fa29142703dd52bdf280084fb7ef69da78afdf80b3586395b433dc66cde048a258e476a561e9deba7060af40adf30c64249ca7ddea79806ee5beb9a1422949471d267b21bc88e688e4014087a0b592b695ed"},
		{a512, 0x80, "05b0bfef265dcee87654372777b7c44177e2ae4c13a27f103340d9cd11c86cb2426ffcad5bd964080c2aee97f03be1ca18e30a1f14e27bc11ebbd650f305269cc9fb1db08bf90bfc79b42a952b46daf810359e7bc36452684784a64952c343c52e5124cd1f71d474d5197fefc571a92929c9084ffe1112cf5eea5192ebff330b"},
	}
	h := newHasher([]byte(dst))
	for _, tt := range tests {
		out := make([]byte, tt.n)
		h.expand(out, []byte(tt.msg))
		if got := hex.EncodeToString(out); got != tt.want {
			t.Errorf("expand_message_xmd(%.20q, %d) = %s, want %s", tt.msg, tt.n, got, tt.want)
		}
	}
}

// A tag over 255 bytes is replaced by SHA-512("H2C-OVERSIZE-DST-" || tag)
// (RFC 9380, section 5.3.3).
func TestExpandXMDOversizeDST(t *testing.T) {
	long := []byte(strings.Repeat("x", 256))
	replaced := sha512.Sum512(append([]byte("H2C-OVERSIZE-DST-"), long...))

	a, b := make([]byte, 64), make([]byte, 64)
	newHasher(long).expand(a, []byte("abc"))
	newHasher(replaced[:]).expand(b, []byte("abc"))
	if hex.EncodeToString(a) != hex.EncodeToString(b) {
		t.Errorf("expand with a 256-byte tag = %x, want the expansion under its hash %x", a, b)
	}
	if got := len(newHasher(long).dstPrime); got != sha512.Size+1 {
		t.Errorf("DST_prime of a 256-byte tag is %d bytes, want 65", got)
	}
}

// RFC 9380 publishes no test vectors for ristretto255_XMD:SHA-512_R255MAP_RO_
// (appendix J covers the NIST, 25519, 448, secp256k1 and BLS12-381 suites
// only). RFC 9497 does: OPRF(ristretto255, SHA-512) defines HashToGroup as
// hash_to_ristretto255 with expand_message_xmd and SHA-512 under the tag
// "HashToGroup-OPRFV1-" || mode || "-ristretto255-SHA512", and its appendix
// A.1.1 vectors give, per input, BlindedElement = Blind·HashToGroup(Input)
// and, in modes OPRF and VOPRF, EvaluationElement = skSm·BlindedElement.
// That is Blind and ReBlind of this package with the RFC's tag and scalars.
func TestHashToGroupRFC9497(t *testing.T) {
	const (
		input1 = "00"
		input2 = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
		blind1 = "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"
		blind2 = "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e"
	)
	type vector struct {
		input, blind, blinded, evaluated string // evaluated is empty for POPRF
	}
	suites := []struct {
		name       string
		mode       byte
		skSm, pkSm string
		vectors    []vector
	}{
		{"A.1.1.1 OPRF", 0, "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e", "", []vector{
			{input1, blind1, "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c", "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e"},
			{input2, blind1, "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418", "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25"},
		}},
		{"A.1.1.2 VOPRF", 1, "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909", "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e", []vector{
			{input1, blind1, "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945", "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e"},
			{input2, blind1, "cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c", "60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468"},
			{input2, blind2, "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654", "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a"},
		}},
		{"A.1.1.3 POPRF", 2, "145c79c108538421ac164ecbe131942136d5570b16d8bf41a24d4337da981e07", "c647bef38497bc6ec077c22af65b696efa43bff3b4a1975a3e8e0a1c5a79d631", []vector{
			{input1, blind1, "c8713aa89241d6989ac142f22dba30596db635c772cbf25021fdd8f3d461f715", ""},
			{input2, blind1, "f0f0b209dd4d5f1844dac679acc7761b91a2e704879656cb7c201e82a99ab07d", ""},
			{input2, blind2, "423a01c072e06eb1cce96d23acce06e1ea64a609d7ec9e9023f3049f2d64e50c", ""},
		}},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			dst := []byte("HashToGroup-OPRFV1-\x00-ristretto255-SHA512")
			dst[len("HashToGroup-OPRFV1-")] = s.mode
			h := newHasher(dst)
			skS := mustScalar(t, s.skSm)
			if s.pkSm != "" {
				if got := hex.EncodeToString(ristretto255.NewElement().ScalarBaseMult(skS).Encode(nil)); got != s.pkSm {
					t.Errorf("skSm·G = %s, want pkSm %s", got, s.pkSm)
				}
			}
			for _, v := range s.vectors {
				e := h.element(ristretto255.NewElement(), mustHex(t, v.input))
				e.ScalarMult(mustScalar(t, v.blind), e)
				if got := hex.EncodeToString(e.Encode(nil)); got != v.blinded {
					t.Errorf("Blind·HashToGroup(%s) = %s, want %s", v.input, got, v.blinded)
				}
				if v.evaluated == "" {
					continue
				}
				out, err := ReBlind(skS, []Token{mustToken(t, v.blinded)})
				if err != nil {
					t.Fatalf("ReBlind(skSm, %s): %v", v.blinded, err)
				}
				if got := hex.EncodeToString(out[0][:]); got != v.evaluated {
					t.Errorf("ReBlind(skSm, %s) = %s, want %s", v.blinded, got, v.evaluated)
				}
			}
		})
	}
}

// RFC 9496, appendix A.3: the element derivation function on 64 bytes. The
// inputs are SHA-512 of the sentences of the draft's original vectors
// ("Ristretto is traditionally a short shot of espresso coffee", ...).
func TestFromUniformBytesRFC9496(t *testing.T) {
	tests := []struct{ in, want string }{
		{"5d1be09e3d0c82fc538112490e35701979d99e06ca3e2b5b54bffe8b4dc772c14d98b696a1bbfb5ca32c436cc61c16563790306c79eaca7705668b47dffe5bb6", "3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46"},
		{"f116b34b8f17ceb56e8732a60d913dd10cce47a6d53bee9204be8b44f6678b270102a56902e2488c46120e9276cfe54638286b9e4b3cdb470b542d46c2068d38", "f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b"},
		{"8422e1bbdaab52938b81fd602effb6f89110e1e57208ad12d9ad767e2e25510c27140775f9337088b982d83d7fcf0b2fa1edffe51952cbe7365e95c86eaf325c", "006ccd2a9e6867e6a2c5cea83d3302cc9de128dd2a9a57dd8ee7b9d7ffe02826"},
		{"ac22415129b61427bf464e17baee8db65940c233b98afce8d17c57beeb7876c2150d15af1cb1fb824bbd14955f2b57d08d388aab431a391cfc33d5bafb5dbbaf", "f8f0c87cf237953c5890aec3998169005dae3eca1fbb04548c635953c817f92a"},
		{"165d697a1ef3d5cf3c38565beefcf88c0f282b8e7dbd28544c483432f1cec7675debea8ebb4e5fe7d6f6e5db15f15587ac4d4d4a1de7191e0c1ca6664abcc413", "ae81e7dedf20a497e10c304a765c1767a42d6e06029758d2d7e8ef7cc4c41179"},
		{"a836e6c9a9ca9f1e8d486273ad56a78c70cf18f0ce10abb1c7172ddd605d7fd2979854f47ae1ccf204a33102095b4200e5befc0465accc263175485f0e17ea5c", "e2705652ff9f5e44d3e841bf1c251cf7dddb77d140870d1ab2ed64f1a9ce8628"},
		{"2cdc11eaeb95daf01189417cdddbf95952993aa9cb9c640eb5058d09702c74622c9965a697a3b345ec24ee56335b556e677b30e6f90ac77d781064f866a3c982", "80bd07262511cdde4863f8a7434cef696750681cb9510eea557088f76d9e5065"},
	}
	for _, tt := range tests {
		got := hex.EncodeToString(ristretto255.NewElement().FromUniformBytes(mustHex(t, tt.in)).Encode(nil))
		if got != tt.want {
			t.Errorf("FromUniformBytes(%.16s…) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// RFC 9496, appendix A.1: encodings of i·B for i = 0..15.
var smallMultiples = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
	"6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
	"94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
	"da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
	"e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
	"f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403",
	"44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d",
	"903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c",
	"02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031",
	"20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f",
	"bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42",
	"e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460",
	"aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f",
	"46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e",
	"e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e",
}

// RFC 9496, appendix A.2: encodings every decoder must reject.
var badEncodings = []string{
	// Non-canonical field encodings.
	"00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	// Negative field elements.
	"0100000000000000000000000000000000000000000000000000000000000000",
	"01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
	"c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
	"c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
	"47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
	"f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
	"87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
	// Non-square x².
	"26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
	"4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
	"de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
	"bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
	"2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
	"f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
	"8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
	"2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
	// Negative xy.
	"3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
	"a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
	"d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
	"8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
	"32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
	"227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
	"5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
	"445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
	// s = -1, which gives y = 0.
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

func TestSmallMultiplesRFC9496(t *testing.T) {
	for i, want := range smallMultiples {
		var b [32]byte
		b[0] = byte(i)
		k := ristretto255.NewScalar()
		if err := k.Decode(b[:]); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(ristretto255.NewElement().ScalarBaseMult(k).Encode(nil)); got != want {
			t.Errorf("encode(%d·B) = %s, want %s", i, got, want)
		}
		if i == 0 {
			continue
		}
		// Re-blinding i·B with 2 gives 2i·B, through decode and encode.
		two := ristretto255.NewScalar()
		two.Decode(append([]byte{2}, make([]byte, 31)...))
		out, err := ReBlind(two, []Token{mustToken(t, want)})
		if err != nil {
			t.Fatalf("ReBlind(2, %d·B): %v", i, err)
		}
		e := ristretto255.NewElement().ScalarBaseMult(k)
		e.Add(e, e)
		if got, want2 := hex.EncodeToString(out[0][:]), hex.EncodeToString(e.Encode(nil)); got != want2 {
			t.Errorf("ReBlind(2, %d·B) = %s, want %s", i, got, want2)
		}
	}
	// The identity, 0·B, is refused.
	if _, err := ReBlind(testKey(t, 1), []Token{mustToken(t, smallMultiples[0])}); !errors.Is(err, ErrIdentity) {
		t.Errorf("ReBlind(identity) = %v, want ErrIdentity", err)
	}
}

func TestBadEncodingsRFC9496(t *testing.T) {
	key := testKey(t, 1)
	valid := mustToken(t, smallMultiples[1])
	for _, s := range badEncodings {
		_, err := ReBlind(key, []Token{valid, mustToken(t, s)})
		var te *TokenError
		if !errors.As(err, &te) || !errors.Is(err, ErrNonCanonical) || te.Index != 1 {
			t.Errorf("ReBlind([B, %s]) = %v, want token 1: ErrNonCanonical", s, err)
		}
	}
}
