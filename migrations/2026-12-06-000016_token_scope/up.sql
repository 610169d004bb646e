-- What a personal API token may do (`api`: everything scripts can; `images`: only make and
-- fetch pictures, what an image tool such as Open WebUI needs), and where it was last used.
ALTER TABLE api_tokens
    ADD COLUMN scope TEXT NOT NULL DEFAULT 'api' CHECK (scope IN ('api', 'images')),
    ADD COLUMN last_used_ip INET;
