package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
)

func init() { commands = append(commands, newKeysCmd) }

// keysInfo is what `keys init` and `keys show` print: only public values.
type keysInfo struct {
	Dir         string `json:"dir"`
	SigningKey  string `json:"signing_key"`
	Fingerprint string `json:"fingerprint"`
}

// defaultKeysDir is where a party's keys live unless --dir says otherwise:
// $XDG_CONFIG_HOME/cleanroom/keys, or the user config directory's
// cleanroom/keys.
func defaultKeysDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "cleanroom", "keys"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", withHint(fmt.Errorf("no default key directory: %w", err), "pass --dir DIR")
	}
	return filepath.Join(d, "cleanroom", "keys"), nil
}

func newKeysCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create and show this party's signing and blinding keys",
		Long: `Keys manages the secrets a party keeps on its own premises: an Ed25519
signing key, which signs the party's grants, agreements and token manifests,
and a ristretto255 blinding master key, from which each room's blinding key is
derived so that tokens cannot be linked across rooms.

The key files never leave this machine: no command sends them anywhere, and
the room server never asks for them. Only the public signing key is shared,
to register the party (cleanroom party create --signing-key KEY). Back the
directory up somewhere safe: a lost blinding key cannot be recovered, and the
party's datasets must then be uploaded again in every room.

The directory defaults to $XDG_CONFIG_HOME/cleanroom/keys, or cleanroom/keys
in the user configuration directory.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return withHint(usageError{fmt.Errorf("unknown command %q for \"cleanroom keys\"", args[0])},
					"the commands are `cleanroom keys init` and `cleanroom keys show`")
			}
			return cmd.Help()
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	resolve := func() (string, error) {
		if dir != "" {
			return dir, nil
		}
		return defaultKeysDir()
	}

	initCmd := &cobra.Command{
		Use:   "init [--dir DIR]",
		Short: "Create this party's keys",
		Long: `Init creates the party's keys in the key directory (mode 0700):
signing.key and blinding.key (mode 0600, they never leave this machine)
and signing.pub. It prints the public signing key to register the party
with, and its fingerprint. Existing keys are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := resolve()
			if err != nil {
				return err
			}
			k, err := keyfile.CreateParty(d)
			if errors.Is(err, keyfile.ErrExist) {
				return withHint(fmt.Errorf("keys already exist in %s", d),
					"see them with `cleanroom keys show --dir "+d+"`",
					"or create new keys in another --dir; existing keys are never overwritten")
			}
			if err != nil {
				return err
			}
			info := publicInfo(d, k)
			if g.json {
				return printJSON(g.stdout, info)
			}
			fmt.Fprintf(g.stdout, "Created party keys in %s\n", info.Dir)
			fmt.Fprintf(g.stdout, "  %-13s private signing key (never leaves this machine)\n", keyfile.PartySigningKeyFile)
			fmt.Fprintf(g.stdout, "  %-13s private blinding key (never leaves this machine)\n", keyfile.PartyBlindingKeyFile)
			fmt.Fprintf(g.stdout, "  %-13s public signing key\n\n", keyfile.PartySigningPubFile)
			printPublic(g, info)
			fmt.Fprintf(g.stdout, "\nBack up %s: lost keys cannot be recovered.\n", info.Dir)
			fmt.Fprintf(g.stdout, "Register the party with the public key:\n  cleanroom party create NAME --signing-key %s\n", info.SigningKey)
			return nil
		},
	}

	showCmd := &cobra.Command{
		Use:   "show [--dir DIR]",
		Short: "Show this party's public signing key and its fingerprint",
		Long: `Show loads the party's keys, checking that the private key files are
readable by their owner only, and prints the public signing key and its
fingerprint. It never prints the private keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := resolve()
			if err != nil {
				return err
			}
			k, err := keyfile.LoadParty(d)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return withHint(err, "create keys with `cleanroom keys init --dir "+d+"`, or pass the --dir that holds them")
			case err != nil:
				return err
			}
			info := publicInfo(d, k)
			if g.json {
				return printJSON(g.stdout, info)
			}
			fmt.Fprintf(g.stdout, "Party keys in %s\n", info.Dir)
			printPublic(g, info)
			return nil
		},
	}

	cmd.AddCommand(initCmd, showCmd)
	return cmd
}

// publicInfo returns the public values of the keys in dir.
func publicInfo(dir string, k *keyfile.PartyKeys) keysInfo {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	pub := k.Public()
	return keysInfo{Dir: dir, SigningKey: cleanroom.EncodeKey(pub), Fingerprint: cleanroom.KeyFingerprint(pub)}
}

func printPublic(g *globals, info keysInfo) {
	fmt.Fprintf(g.stdout, "Public signing key: %s\n", info.SigningKey)
	fmt.Fprintf(g.stdout, "Fingerprint:        %s\n", info.Fingerprint)
}
