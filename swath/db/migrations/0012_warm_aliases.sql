-- Aliases the inference pools keep warm: every target of a warm alias is loaded and warmed up at
-- pool start and again whenever the alias moves. `production` aliases are warm unless set otherwise.
ALTER TABLE model_aliases ADD COLUMN warm boolean;
UPDATE model_aliases SET warm = (alias = 'production');
ALTER TABLE model_aliases ALTER COLUMN warm SET NOT NULL;
