package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
)

func init() { commands = append(commands, newScoreCmd) }

func newScoreCmd(g *globals) *cobra.Command {
	var room, keysDir, id, country string
	var features []string
	var gmail bool
	cmd := &cobra.Command{
		Use:   "score MODEL --room ROOM --id IDENTIFIER [--feature dataset.column=value ...] --keys DIR",
		Short: "Score one applicant with a model the room keeps for online scoring (analyst)",
		Long: `Score asks the room for one applicant's score under a released model job
whose template declares scoring (MODEL is that run's ID). The applicant's
identifier (--id, of the class the template scores by) is normalised, hashed
and blinded here with your party's key, and sent with a manifest your party
signs for this one request; the other parties' agents re-blind it, and the
room returns the score alone. An applicant the room cannot match gets a
score of the same form, so a score does not tell whether the person is a
subscriber. --feature gives your own features of the applicant, each of the
model's features of your dataset. Per-person scores are a declared
disclosure: the room's data-use agreement must declare it.`,
		Example: `  cleanroom score 3f9c… --room operator-bank --id +79161234567 --feature customers.balance=120000 --feature customers.monthly_spend=30000`,
		Args:    wantArgs("MODEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range [][2]string{{"room", room}, {"id", id}} {
				if err := required(cmd, r[0], r[1]); err != nil {
					return err
				}
			}
			if keysDir == "" {
				d, err := defaultKeysDir()
				if err != nil {
					return err
				}
				keysDir = d
			}
			keys, err := keyfile.LoadParty(keysDir)
			if err != nil {
				return withHint(err, "pass the party's key directory with --keys DIR")
			}
			fs, err := parseParams(features)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				res, err := scoreApplicant(cmd.Context(), c, keys, room, args[0], id, normalize.Options{Region: country, Gmail: gmail}, fs)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, res)
				}
				fmt.Fprintf(g.stdout, "Score %.4f (bin %s) under model %s.\n", res.Score, res.Bin, res.Model)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&id, "id", "", "the applicant's identifier, of the class the model scores by (required)")
	cmd.Flags().StringArrayVar(&features, "feature", nil, "one of your features of the applicant, dataset.column=value (repeatable)")
	cmd.Flags().StringVar(&keysDir, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	cmd.Flags().StringVar(&country, "country", "RU", "default country of a phone number written without a country code")
	cmd.Flags().BoolVar(&gmail, "gmail", false, "apply the gmail rules to an email address")
	return cmd
}

// scoreApplicant builds a scoring request for one applicant, signed now by
// the caller's party, and sends it.
func scoreApplicant(ctx context.Context, c *client.Client, keys *keyfile.PartyKeys, room, model, id string, opts normalize.Options,
	features map[string]string) (*httpapi.ScoreBody, error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		return nil, err
	}
	class, err := scoringClass(ctx, c, room, model)
	if err != nil {
		return nil, err
	}
	req, err := agent.ScoringRequest(keys, info.ServerID, room, who.Party, model, class, id, opts, features, time.Now())
	if err != nil {
		return nil, err
	}
	return c.Score(ctx, room, req)
}

// scoringClass is the identifier class a model run's template scores by.
func scoringClass(ctx context.Context, c *client.Client, room, model string) (cleanroom.IdentifierClass, error) {
	q, err := c.ShowQuery(ctx, room, model)
	if err != nil {
		return "", err
	}
	t, err := c.ShowTemplate(ctx, room, q.Template, q.Version)
	if err != nil {
		return "", err
	}
	if t.Template.Model == nil || t.Template.Model.Scoring == nil {
		return "", cleanroom.Errorf(cleanroom.EInvalid, "run %s of template %s version %d keeps no model for scoring", model, q.Template, q.Version).
			WithHint("score with a model job whose template declares scoring (`cleanroom template library joint-credit-risk-scoring`)")
	}
	return t.Template.Model.Scoring.Identifier, nil
}
