-- Every word the search index holds, so that a search word, which matches as the start of
-- a word ("lighth" finds "lighthouse"), can be asked of the index as the words it starts.
-- Asked as a prefix, GIN collects every picture of every word starting with it into a
-- bitmap before combining the words: two words each on 375,000 pictures of a 3-million-
-- picture library that never meet took 131 ms. Asked as whole words, it walks their lists
-- together, skipping ahead (14 ms). The table only grows (a word no picture carries any
-- more costs a few bytes and matches nothing); a migration that rebuilds `images.search`
-- must refill it.
CREATE TABLE search_words (word text COLLATE "C" PRIMARY KEY);
INSERT INTO search_words
SELECT DISTINCT word FROM images, unnest(tsvector_to_array(search)) AS word ORDER BY 1;

-- A picture's words, noted as it is made or retitled, retagged or re-prompted, in the same
-- transaction (a search never asks for fewer words than the pictures carry).
-- tsvector_to_array gives each word once, sorted: transactions adding the same new words
-- take them in one order.
CREATE FUNCTION atelier_note_search_words() RETURNS trigger AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT word FROM unnest(tsvector_to_array(NEW.search)) AS word
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER images_note_search_words AFTER INSERT ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_note_search_words();
CREATE TRIGGER images_note_changed_search_words AFTER UPDATE OF title, prompt, tags ON images
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search)
    EXECUTE FUNCTION atelier_note_search_words();

-- The search for `typed` words (letters and digits, lower case; each the start of a word,
-- all required) as a tsquery the index answers word by word: each word as the known words
-- it starts (`'storm' | 'stormi'` for "storm"), up to 32 of them; past that, as the prefix
-- itself (`'a':*`). A word with no known continuation is asked for as itself (nothing
-- carries it); stop words are left out, as to_tsquery leaves them out; NULL when no word
-- is left. Words sort bytewise (COLLATE "C"), so those starting with a stem are the run
-- of the table from the stem on, and 33 rows of the index say whether there are more.
CREATE FUNCTION atelier_search_query(typed text[]) RETURNS tsquery
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    word text;
    stem text[];
    known text[];
    term tsquery;
    combined tsquery;
BEGIN
    FOREACH word IN ARRAY typed LOOP
        stem := tsvector_to_array(to_tsvector('english', word));
        CONTINUE WHEN cardinality(stem) = 0;
        term := NULL;
        IF cardinality(stem) = 1 THEN
            SELECT coalesce(array_agg(near.word), '{}') INTO known
            FROM (SELECT sw.word FROM search_words sw
                  WHERE sw.word >= stem[1] ORDER BY sw.word LIMIT 33) AS near
            WHERE starts_with(near.word, stem[1]);
            IF cardinality(known) = 0 THEN
                known := stem;
            END IF;
            IF cardinality(known) <= 32 THEN
                SELECT string_agg(
                           '''' || replace(replace(w, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery
                INTO term FROM unnest(known) AS w;
            END IF;
        END IF;
        term := coalesce(term, to_tsquery('english', word || ':*'));
        combined := CASE WHEN combined IS NULL THEN term ELSE combined && term END;
    END LOOP;
    RETURN combined;
END;
$$;
