-- What a key is for, as its creator wrote it (issue 31 point 12): at most 200
-- characters, checked by the services; '' means none.
ALTER TABLE api_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';
