"""Chinese for the player, transcripts, captions and search."""

ZH_CN: dict[str, str] = {
    # the player
    "This recording is not ready yet. Come back later.": "录像尚未处理完成，请稍后再来。",
    "Player": "播放器",
    "Lecture video": "课程视频",
    "Captions": "字幕",
    "Playback settings": "播放设置",
    "Quality": "清晰度",
    "Auto": "自动",
    "Audio only": "仅音频",
    "Speed": "倍速",
    "Playback speed": "播放速度",
    "Download (smallest size)": "下载（最小文件）",
    "Reconnecting…": "正在重新连接…",
    "The link is too slow for video: playing the sound only.": "网络太慢，无法播放视频：现在只播放声音。",
    "Try video again": "再试视频",
    "The video could not be loaded. Check the connection and reload the page.": (
        "视频无法加载，请检查网络后刷新页面。"
    ),
    # attendance: the head count
    "How many colleagues are watching with you?": "有几位同事和您一起观看？",
    "Count everyone in front of this screen, yourself included. It is kept for this lecture; "
    "change it at any time with the button under the video.": (
        "请把屏幕前的所有人都算上，包括您自己。本课程会记住这个人数，可随时用视频下方的按钮修改。"
    ),
    "People watching": "观看人数",
    "Enter a whole number from 1 to 500.": "请输入 1 到 500 之间的整数。",
    "Not now": "暂不填写",
    "Save": "保存",
    # the transcript
    "Transcript": "文字稿",
    "Play from": "从此处播放",
    "Correct": "更正",
    "Corrected text of this segment:": "请输入本段更正后的文字：",
    "No transcript yet.": "暂无文字稿。",
    # search
    "Search": "搜索",
    "Search what was said": "搜索课程内容",
    "Words from a lecture, e.g. 降压药": "输入课程中讲到的词，例如：降压药",
    "Nothing found.": "没有找到相关内容。",
    "Lectures found:": "找到的课程：",
    "More moments:": "更多片段：",
}
