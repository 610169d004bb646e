DROP TRIGGER sessions_notify_auth ON sessions;
DROP TRIGGER users_notify_auth ON users;
DROP FUNCTION atelier_notify_auth();
