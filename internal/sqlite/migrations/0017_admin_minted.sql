-- A user's token the platform admin minted without its party's signed
-- request carries none of the party's grants. Tokens made before this
-- migration keep theirs; re-issue them through party-signed requests
-- (`cleanroom token create --keys`) and revoke the old ones.
ALTER TABLE tokens ADD COLUMN admin_minted INTEGER NOT NULL DEFAULT 0 CHECK (admin_minted IN (0, 1));
