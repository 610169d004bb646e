DROP TRIGGER tag_suggestions_count_delete ON tag_suggestions;
DROP TRIGGER tag_suggestions_count_insert ON tag_suggestions;
DROP FUNCTION atelier_count_suggestions();
DROP TRIGGER favourites_mark_images ON favourites;
DROP FUNCTION atelier_mark_starred();
ALTER TABLE images DROP COLUMN starred, DROP COLUMN suggestions_waiting;
