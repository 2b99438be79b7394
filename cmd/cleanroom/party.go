package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

func init() { commands = append(commands, newPartyCmd) }

func newPartyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "party",
		Short: "Register, list and show parties",
		Long: `A party is an organisation that brings data into rooms: an operator, a bank,
an advertiser. The platform admin registers it with the public half of its
signing key, made on the party's side by 'cleanroom keys init'; the private
keys never leave the party.`,
	}
	cmd.AddCommand(newPartyCreateCmd(g), newPartyListCmd(g), newPartyShowCmd(g))
	return group(cmd)
}

func newPartyCreateCmd(g *globals) *cobra.Command {
	var key, display string
	cmd := &cobra.Command{
		Use:   "create NAME --signing-key BASE64|@FILE [--display-name S]",
		Short: "Register a party with its public signing key (admin)",
		Long: `Create registers a party. --signing-key is the public key printed by
'cleanroom keys init' (standard base64 of the 32-byte Ed25519 key), or
@FILE to read it from the party's signing.pub, or from a file holding the
base64 text.`,
		Example: `  cleanroom party create bank --signing-key @bankkeys/signing.pub --display-name "Example Bank"
  cleanroom party create operator --signing-key 3q2+7w...=`,
		Args: wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "signing-key", key); err != nil {
				return err
			}
			k, err := readSigningKey(key)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				p, err := c.CreateParty(cmd.Context(), httpapi.CreatePartyRequest{Name: args[0], DisplayName: display, SigningKey: k})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, p)
				}
				fmt.Fprintf(g.stdout, "Registered party %s (%s), key fingerprint %s.\n", p.Name, p.DisplayName, p.Fingerprint)
				fmt.Fprintf(g.stdout, "Next: invite it to a room with `cleanroom room invite ROOM --party %s`.\n", p.Name)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&key, "signing-key", "", "the party's public signing key: base64, or @FILE (required)")
	cmd.Flags().StringVar(&display, "display-name", "", "name to show for the party (default: NAME)")
	return cmd
}

// readSigningKey returns the standard base64 text of a public signing key
// given as base64 or as @FILE, where FILE is a PEM "PUBLIC KEY" (the
// party's signing.pub) or holds the base64 text. It refuses anything that
// looks like a private key, so a private key is never sent to the server.
func readSigningKey(arg string) (string, error) {
	text := arg
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", withHint(fmt.Errorf("read signing key: %w", err),
				"pass the party's signing.pub, made by `cleanroom keys init`")
		}
		if block, _ := pem.Decode(data); block != nil {
			return pemPublicKey(path, block)
		}
		text = strings.TrimSpace(string(data))
	}
	if b, err := base64.StdEncoding.DecodeString(text); err == nil && len(b) == ed25519.PrivateKeySize {
		return "", withHint(errors.New("the signing key is 64 bytes long: that is an Ed25519 private key, which must not leave the party"),
			"pass the public key printed by `cleanroom keys init`, or @DIR/signing.pub")
	}
	return text, nil
}

// pemPublicKey returns the base64 text of the Ed25519 public key in a PEM
// block read from path.
func pemPublicKey(path string, block *pem.Block) (string, error) {
	hint := "pass the party's public key file, signing.pub, made by `cleanroom keys init`"
	if strings.Contains(block.Type, "PRIVATE") {
		return "", withHint(fmt.Errorf("read signing key: %s holds a private key, which must not leave the party", path), hint)
	}
	if block.Type != "PUBLIC KEY" {
		return "", withHint(fmt.Errorf("read signing key: %s holds a PEM %q block, not a \"PUBLIC KEY\"", path, block.Type), hint)
	}
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "", withHint(fmt.Errorf("read signing key: %s: %w", path, err), hint)
	}
	pub, ok := pk.(ed25519.PublicKey)
	if !ok {
		return "", withHint(fmt.Errorf("read signing key: %s holds a %T, not an Ed25519 public key", path, pk), hint)
	}
	return cleanroom.EncodeKey(pub), nil
}

func newPartyListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the parties you may see",
		Long: `List shows every party to the platform admin; a user sees its own party and
the parties of its rooms.`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListParties(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				if len(l.Parties) == 0 {
					fmt.Fprintln(g.stdout, "No parties. The platform admin registers them with `cleanroom party create`.")
					return nil
				}
				tw := newTable(g.stdout, "NAME", "DISPLAY NAME", "FINGERPRINT", "CREATED")
				for _, p := range l.Parties {
					row(tw, p.Name, p.DisplayName, p.Fingerprint, fmtTime(p.CreatedAt))
				}
				return tw.Flush()
			})
		},
	}
}

func newPartyShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a party, its signing key and its rooms",
		Args:  wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				p, err := c.ShowParty(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, p)
				}
				tw := newTable(g.stdout)
				row(tw, "name:", p.Name)
				row(tw, "display name:", p.DisplayName)
				row(tw, "signing key:", cleanroom.EncodeKey(p.SigningKey))
				row(tw, "fingerprint:", p.Fingerprint)
				row(tw, "created:", fmtTime(p.CreatedAt))
				rooms := "none"
				if len(p.Rooms) > 0 {
					rooms = strings.Join(p.Rooms, ", ")
				}
				row(tw, "rooms:", rooms)
				return tw.Flush()
			})
		},
	}
}
