-- Tokens of the role scraper (gateway/auth/roles.ts): a metrics collector that reads /metrics and
-- nothing else. /metrics covers every system, so such a token has the scope * and no permission,
-- checked here too so that no writer can store a wider one. Existing rows are auditors' and
-- operators': both constraints hold for them, and nothing is rewritten.

ALTER TABLE auth_token
  DROP CONSTRAINT auth_token_role_check,
  ADD CONSTRAINT auth_token_role_check CHECK (role IN ('auditor', 'operator', 'scraper')),
  ADD CONSTRAINT auth_token_scraper_shape CHECK (role <> 'scraper' OR (scope = '*' AND permissions = '{}'));
