DROP FUNCTION atelier_search_query(text[]);
DROP TRIGGER images_note_changed_search_words ON images;
DROP TRIGGER images_note_search_words ON images;
DROP FUNCTION atelier_note_search_words();
DROP TABLE search_words;
